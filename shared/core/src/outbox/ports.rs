//! The event bus as the outbox sees it: PutEvents. `ferry-aws` implements it with
//! EventBridge; [`MemoryBus`] keeps the events for tests.

use std::future::Future;
use std::sync::Mutex;

use crate::import::PortError;

/// One PutEvents entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEvent {
    /// `Source`: `ferry`.
    pub source: String,
    /// `DetailType`.
    pub detail_type: String,
    /// `Detail`: a JSON object, as text.
    pub detail: String,
    /// `Resources`: the model and job ARNs the event concerns.
    pub resources: Vec<String>,
    /// `Time`: when the change happened (seconds since the Unix epoch).
    pub time: u64,
}

/// What PutEvents did with each entry, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutResult {
    /// Accepted; EventBridge's `EventId`.
    Accepted(String),
    /// Refused (`ErrorCode: ErrorMessage`); `retryable` for `InternalFailure` and
    /// `ThrottlingException`.
    Refused {
        /// The entry's `ErrorCode` and `ErrorMessage`.
        error: String,
        /// Whether a later put may succeed.
        retryable: bool,
    },
}

/// The hosting account's default event bus.
pub trait EventBus: Sync {
    /// PutEvents with at most 10 entries; one result per entry, in order. An `Err` means
    /// the call itself failed and no entry is known to be accepted.
    fn put(
        &self,
        events: &[BusEvent],
    ) -> impl Future<Output = Result<Vec<PutResult>, PortError>> + Send;
}

/// A bus in memory: keeps every accepted event; can be told to fail.
#[derive(Debug, Default)]
pub struct MemoryBus {
    events: Mutex<Vec<BusEvent>>,
    failing: Mutex<Option<PortError>>,
}

impl MemoryBus {
    /// Every event put so far, in order.
    pub fn events(&self) -> Vec<BusEvent> {
        lock(&self.events).clone()
    }

    /// Makes every later put fail with `error` (`None`: succeed again).
    pub fn fail_with(&self, error: Option<PortError>) {
        *lock(&self.failing) = error;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl EventBus for MemoryBus {
    async fn put(&self, events: &[BusEvent]) -> Result<Vec<PutResult>, PortError> {
        if let Some(error) = lock(&self.failing).clone() {
            return Err(error);
        }
        let mut kept = lock(&self.events);
        let first = kept.len();
        kept.extend_from_slice(events);
        Ok((first..kept.len())
            .map(|i| PutResult::Accepted(format!("memory-{i}")))
            .collect())
    }
}

impl<B: EventBus + Send> EventBus for std::sync::Arc<B> {
    async fn put(&self, events: &[BusEvent]) -> Result<Vec<PutResult>, PortError> {
        (**self).put(events).await
    }
}
