//! Putting an item's unsent history entries on the bus, at most one handler at a time.
//!
//! The handler that takes the item's events lease (a conditional write that also checks
//! how many went out) puts the entries in order and then records how many went out.
//! A crash between a ledger write and the put leaves the entries unsent: the next
//! handler or sweep puts them, once. A crash between the put and the record lets the
//! lease run out and the entries go again: consumers drop the repeat by `eventId`.

use super::detail::bus_event;
use super::ports::{EventBus, PutResult};
use crate::import::{Clock, Hosting, Ledger, LedgerItem, LedgerUpdate, PortError, PortErrorKind};

/// How long one handler holds the right to put an item's events.
pub const EVENTS_LEASE_SECS: u64 = 60;
/// PutEvents takes at most 10 entries.
const MAX_ENTRIES_PER_PUT: usize = 10;
/// Tries at recording the count when the item's state moves under the publisher.
const RECORD_TRIES: usize = 3;

/// Puts the unsent history entries of `fingerprint` and records them sent. Returns how
/// many went out now (0: none were due, or another handler holds the lease).
pub async fn publish_pending<L: Ledger, B: EventBus>(
    ledger: &L,
    bus: &B,
    clock: Clock,
    fingerprint: &str,
) -> Result<usize, PortError> {
    let Some(item) = ledger.get(fingerprint).await? else {
        return Ok(0);
    };
    if !item.events_owed() {
        return Ok(0);
    }
    let sent_before = item.events_sent as usize;
    let now = clock();
    let held_until = now + EVENTS_LEASE_SECS;
    let claim = LedgerUpdate {
        now,
        set_events_lease: Some(held_until),
        expect_events_free: Some((now, item.events_sent)),
        ..Default::default()
    };
    if !ledger.transition(fingerprint, item.state, &claim).await? {
        return Ok(0);
    }
    let put = put_in_order(bus, &item, sent_before).await;
    let sent = match &put {
        Ok(n) | Err((n, _)) => *n,
    };
    let held = (held_until, item.events_sent);
    record_sent(ledger, clock, fingerprint, held, sent_before + sent).await?;
    put.map_err(|(_, e)| e)
}

/// Puts the entries from `first` on, in order, stopping at the first one refused.
/// Returns how many were accepted, or that count with the error that stopped it.
async fn put_in_order<B: EventBus>(
    bus: &B,
    item: &LedgerItem,
    first: usize,
) -> Result<usize, (usize, PortError)> {
    let events: Vec<_> = (first..item.history.len())
        .filter_map(|i| bus_event(item, i))
        .collect();
    let mut accepted = 0;
    for chunk in events.chunks(MAX_ENTRIES_PER_PUT) {
        let results = bus.put(chunk).await.map_err(|e| (accepted, e))?;
        for result in results.iter().take(chunk.len()) {
            match result {
                PutResult::Accepted(_) => accepted += 1,
                PutResult::Refused { error, retryable } => {
                    let kind = if *retryable {
                        PortErrorKind::Retryable
                    } else {
                        PortErrorKind::Other
                    };
                    let message = format!("entry {} of {}: {error}", accepted + 1, item.name);
                    return Err((accepted, PortError::new(kind, "events:PutEvents", message)));
                }
            }
        }
        if results.len() < chunk.len() {
            let message = format!("{} results for {} entries", results.len(), chunk.len());
            return Err((
                accepted,
                PortError::new(PortErrorKind::Other, "events:PutEvents", message),
            ));
        }
    }
    Ok(accepted)
}

/// Records `sent` entries sent and frees the lease, whatever state the item moved to,
/// if this handler still holds the lease it took (`held`: until, count before): after
/// it ran out, another handler owns the count.
async fn record_sent<L: Ledger>(
    ledger: &L,
    clock: Clock,
    fingerprint: &str,
    held: (u64, u32),
    sent: usize,
) -> Result<(), PortError> {
    let record = LedgerUpdate {
        now: clock(),
        set_events_sent: Some(u32::try_from(sent).unwrap_or(u32::MAX)),
        set_events_lease: Some(0),
        expect_events_held: Some(held),
        ..Default::default()
    };
    for _ in 0..RECORD_TRIES {
        let Some(item) = ledger.get(fingerprint).await? else {
            return Ok(());
        };
        if item.events_lease_until != Some(held.0) {
            // The lease ran out and another handler took it: its count stands.
            return Ok(());
        }
        if ledger.transition(fingerprint, item.state, &record).await? {
            return Ok(());
        }
    }
    Err(PortError::new(
        PortErrorKind::Retryable,
        "dynamodb:UpdateItem",
        format!("{fingerprint}: could not record {sent} events sent; the lease runs out and they go again"),
    ))
}

/// Puts an item's pending events now, after a ledger write; a failure is logged and the
/// next sweep puts them.
pub(crate) async fn announce<L: Ledger, I, A, E: EventBus>(
    hosting: &Hosting<L, I, A, E>,
    fingerprint: &str,
) {
    if let Err(e) =
        publish_pending(&hosting.ledger, &hosting.events, hosting.clock, fingerprint).await
    {
        tracing::warn!(%fingerprint, error = %e, "state-change events not put; the next sweep puts them");
    }
}
