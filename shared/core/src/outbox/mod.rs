//! State-change events: every entry of a ledger item's `history` goes on the hosting
//! account's default EventBridge bus once. The history is the outbox: a ledger write
//! records the change and the put follows; a crash in between leaves the entry unsent
//! (`events_sent` counts the sent ones) and the next writer or sweep puts it. What an
//! event says is in [`detail`]; the bus is the [`ports::EventBus`] port; the sending,
//! under a lease so that two handlers never put the same entries, is [`publish`].

pub mod detail;
pub mod ports;
pub mod publish;

pub use detail::{bus_event, StateEventDetail, DETAIL_TYPE, DETAIL_VERSION, SOURCE};
pub use ports::{BusEvent, EventBus, MemoryBus, PutResult};
pub(crate) use publish::announce;
pub use publish::{publish_pending, EVENTS_LEASE_SECS};
