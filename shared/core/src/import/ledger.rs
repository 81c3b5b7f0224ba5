//! The import ledger's items: one per fingerprint, state
//! Pending → Submitted → Completed | Failed, or Rejected straight away; after the job,
//! Completed → Verified | SmokeFailed (the smoke test), Verified → Released → Retired
//! (release and rollback). Every state change is kept in the item's `history`, which is
//! also its outbox of state-change events (`events_sent` of them went out).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::ports::{Ledger, PortError};

/// Where an import stands; one state per ledger item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ImportState {
    /// Valid and waiting for the account's one import slot.
    Pending,
    /// CreateModelImportJob accepted; the tracker follows the job.
    Submitted,
    /// The job completed: the imported model exists.
    Completed,
    /// The job (or its creation) failed.
    Failed,
    /// Validation or the access check found errors; never submitted.
    Rejected,
    /// The imported model was deleted by cleanup (the S3 artifacts stay).
    Deleted,
    /// A job started outside Ferry that held the import slot: recorded to report it once.
    Foreign,
    /// The import completed and the model answered its smoke test.
    Verified,
    /// The import completed but the model failed its smoke test; never released
    /// automatically.
    SmokeFailed,
    /// The model's live version: its ARN is in the model's release parameter.
    Released,
    /// Was live, replaced by a newer release or a rollback; may be released again.
    Retired,
}

/// Every state, in the order of an import's life.
pub const ALL_STATES: [ImportState; 11] = [
    ImportState::Pending,
    ImportState::Submitted,
    ImportState::Completed,
    ImportState::Verified,
    ImportState::SmokeFailed,
    ImportState::Released,
    ImportState::Retired,
    ImportState::Failed,
    ImportState::Rejected,
    ImportState::Deleted,
    ImportState::Foreign,
];

impl ImportState {
    /// The state as the ledger stores it: the variant's name (`Pending`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Submitted => "Submitted",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Rejected => "Rejected",
            Self::Deleted => "Deleted",
            Self::Foreign => "Foreign",
            Self::Verified => "Verified",
            Self::SmokeFailed => "SmokeFailed",
            Self::Released => "Released",
            Self::Retired => "Retired",
        }
    }

    /// The state stored as `s` (see [`ImportState::as_str`]); `None` for any other text.
    pub fn parse(s: &str) -> Option<Self> {
        ALL_STATES.into_iter().find(|state| state.as_str() == s)
    }

    /// States whose imported model exists (as far as the ledger knows) and can answer.
    pub fn has_model(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Verified | Self::SmokeFailed | Self::Released | Self::Retired
        )
    }
}

/// One state change of an item: an entry of its history and, until sent, of its outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// The state entered.
    pub state: ImportState,
    /// The state left; `None` for the item's first state.
    pub previous: Option<ImportState>,
    /// When (seconds since the Unix epoch).
    pub at: u64,
    /// Who asked and why, when a person or a rule did (`rollback by arn:…: …`); bounded.
    pub note: Option<String>,
}

/// The most characters of a state change's note.
pub const NOTE_CHARS: usize = 300;

/// The smoke test's record on an item (see [`crate::verify`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeRecord {
    /// `Some(true)` passed, `Some(false)` failed, `None` not finished (or not run).
    pub passed: Option<bool>,
    /// The start of the answer (echo-safe, bounded).
    pub answer: Option<String>,
    /// The latency of the answering call, in milliseconds.
    pub latency_ms: Option<u64>,
    /// InvokeModel attempts so far, the SDK's own retries included.
    pub attempts: u32,
    /// Seconds from the job's end to the first answer.
    pub first_answer_secs: Option<u64>,
    /// What the last unsuccessful attempt saw (warming, throttled…), echo-safe.
    pub last_error: Option<String>,
    /// The request format used (`BedrockCompletionMaxGenLen`, …).
    pub format: Option<String>,
    /// When the first attempt was made: the deadline runs from it or from the job's end,
    /// whichever is later (a tracker that was down must not fail a warming model).
    pub first_attempt_at: Option<u64>,
}

/// One import, as recorded in the hosting account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerItem {
    /// The content's fingerprint (SHA-256, hex): the item's key. A deleted model Ferry has
    /// no item for is recorded as `model:{arn}`, a job Ferry did not start as `job:{arn}`.
    pub fingerprint: String,
    /// Where the import stands.
    pub state: ImportState,
    /// `s3://bucket/prefix/`
    pub source_uri: String,
    /// The readable model slug from the folder name (`llama-3-1-8b-ft`).
    pub slug: String,
    /// `jobName` and `importedModelName`.
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// When the item last changed.
    pub updated_at: u64,
    /// When CreateModelImportJob accepted the job; `None` before.
    pub submitted_at: Option<u64>,
    /// When the item was Rejected, its start failed or its job ended (as recorded);
    /// `None` before.
    pub finished_at: Option<u64>,
    /// The import job's ARN, once CreateModelImportJob accepted it.
    pub job_arn: Option<String>,
    /// The imported model's ARN, once the job completed (kept after cleanup deletes it).
    pub model_arn: Option<String>,
    /// Why it was Rejected or Failed.
    pub failure: Option<String>,
    /// CreateModelImportJob calls made for it.
    pub attempts: u32,
    /// Whether the alert for a Rejected or Failed item went out.
    pub alerted: bool,
    /// Until when (epoch seconds) one handler holds the right to call
    /// CreateModelImportJob for this item, or to send its alert.
    pub lease_until: Option<u64>,
    /// Operator retries of a Failed item (`ferry import --retry`): each gets a new
    /// name (`-rN`) and token.
    pub retry: u32,
    /// From GetImportedModel once the job completed.
    pub architecture: Option<String>,
    /// Custom Model Units per model copy (`customModelUnitsPerModelCopy`), from the same
    /// call.
    pub custom_model_units: Option<u32>,
    /// Every state change, oldest first; the first `events_sent` went out as events.
    pub history: Vec<StateChange>,
    /// How many entries of `history` were put on the event bus.
    pub events_sent: u32,
    /// Until when one handler holds the right to put this item's pending events.
    pub events_lease_until: Option<u64>,
    /// The smoke test's record.
    pub smoke: SmokeRecord,
    /// When this version last became live (kept above the version it replaced, so that
    /// it also orders the releases of one model).
    pub released_at: Option<u64>,
    /// The fingerprint of the version this one replaced when it was first released: the
    /// target of a rollback while it is live.
    pub replaced: Option<String>,
    /// The stage whose ledger holds it (`FERRY_STAGES`); `None` in a deployment
    /// without stages. Optional in the schema: items written before stages have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

impl LedgerItem {
    /// Whether some of its state changes have not gone out as events yet.
    pub fn events_owed(&self) -> bool {
        (self.events_sent as usize) < self.history.len()
    }

    /// A fresh item: nothing submitted, attempted or alerted yet.
    pub fn new(
        fingerprint: impl Into<String>,
        state: ImportState,
        source_uri: impl Into<String>,
        slug: impl Into<String>,
        name: impl Into<String>,
        now: u64,
    ) -> Self {
        Self {
            history: vec![StateChange {
                state,
                previous: None,
                at: now,
                note: None,
            }],
            events_sent: 0,
            events_lease_until: None,
            smoke: SmokeRecord::default(),
            released_at: None,
            replaced: None,
            stage: None,
            fingerprint: fingerprint.into(),
            state,
            source_uri: source_uri.into(),
            slug: slug.into(),
            name: name.into(),
            created_at: now,
            updated_at: now,
            submitted_at: None,
            finished_at: None,
            job_arn: None,
            model_arn: None,
            failure: None,
            attempts: 0,
            alerted: false,
            lease_until: None,
            retry: 0,
            architecture: None,
            custom_model_units: None,
        }
    }
}

/// A change to an item, applied only if it is still in the expected state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerUpdate {
    /// The new state; `None` keeps the current one.
    pub state: Option<ImportState>,
    /// The time of the change (epoch seconds): the new `updated_at`, and `submitted_at` or
    /// `finished_at` when those are asked for.
    pub now: u64,
    /// Records the import job's ARN.
    pub job_arn: Option<String>,
    /// Records the imported model's ARN.
    pub model_arn: Option<String>,
    /// Replaces the failure text; an empty text marks it cleared (readers take `""` as none).
    pub failure: Option<String>,
    /// Counts one more CreateModelImportJob call (`attempts`).
    pub add_attempt: bool,
    /// Sets `submitted_at` to `now`.
    pub submitted: bool,
    /// Sets `finished_at` to `now`.
    pub finished: bool,
    /// Sets or clears the `alerted` flag; `None` leaves it.
    pub set_alerted: Option<bool>,
    /// Condition besides the state: apply only if the alert has not gone out (so that
    /// of two racing handlers exactly one sends it).
    pub expect_unalerted: bool,
    /// Sets (or, with 0, releases) the start lease.
    pub set_lease: Option<u64>,
    /// Condition: apply only if no lease is held at this time.
    pub expect_lease_free_at: Option<u64>,
    /// A new job and model name (a retry).
    pub set_name: Option<String>,
    /// Counts one more operator retry (`retry`).
    pub add_retry: bool,
    /// Records the imported model's architecture (GetImportedModel).
    pub set_architecture: Option<String>,
    /// Records the imported model's Custom Model Units per copy.
    pub set_custom_model_units: Option<u32>,
    /// Who asked and why, for the history entry of a state change (bounded to
    /// [`NOTE_CHARS`]).
    pub note: Option<String>,
    /// Replaces the smoke test's record.
    pub set_smoke: Option<SmokeRecord>,
    /// Sets `released_at`: the release's time, which also orders releases (it is kept
    /// above the live version's, even within one second).
    pub set_released_at: Option<u64>,
    /// Records the version this one replaces.
    pub set_replaced: Option<String>,
    /// Records how many history entries went out as events.
    pub set_events_sent: Option<u32>,
    /// Sets (or, with 0, releases) the events lease.
    pub set_events_lease: Option<u64>,
    /// Condition: apply only if no events lease is held at this time and exactly
    /// `.1` events went out (`(now, events_sent)`).
    pub expect_events_free: Option<(u64, u32)>,
    /// Condition: apply only if this handler still holds the events lease it took (the
    /// lease runs until `.0`) and the count is still `.1` (`(until, events_sent)`).
    pub expect_events_held: Option<(u64, u32)>,
}

impl LedgerUpdate {
    /// Makes the changes on `item`, without checking the conditions (that is the ledger's
    /// part, in [`Ledger::transition`]).
    pub fn apply(&self, item: &mut LedgerItem) {
        if let Some(change) = self.state_change(item.state) {
            item.history.push(change);
        }
        if let Some(state) = self.state {
            item.state = state;
        }
        if let Some(smoke) = &self.set_smoke {
            item.smoke.clone_from(smoke);
        }
        if self.set_released_at.is_some() {
            item.released_at = self.set_released_at;
        }
        if self.set_replaced.is_some() {
            item.replaced.clone_from(&self.set_replaced);
        }
        if let Some(sent) = self.set_events_sent {
            item.events_sent = sent;
        }
        if let Some(lease) = self.set_events_lease {
            item.events_lease_until = Some(lease);
        }
        item.updated_at = self.now;
        if self.job_arn.is_some() {
            item.job_arn.clone_from(&self.job_arn);
        }
        if self.model_arn.is_some() {
            item.model_arn.clone_from(&self.model_arn);
        }
        if self.failure.is_some() {
            item.failure.clone_from(&self.failure);
        }
        if self.add_attempt {
            item.attempts += 1;
        }
        if self.set_architecture.is_some() {
            item.architecture.clone_from(&self.set_architecture);
        }
        if self.set_custom_model_units.is_some() {
            item.custom_model_units = self.set_custom_model_units;
        }
        if self.submitted {
            item.submitted_at = Some(self.now);
        }
        if self.finished {
            item.finished_at = Some(self.now);
        }
        if let Some(alerted) = self.set_alerted {
            item.alerted = alerted;
        }
        if let Some(lease) = self.set_lease {
            item.lease_until = Some(lease);
        }
        if let Some(name) = &self.set_name {
            item.name.clone_from(name);
        }
        if self.add_retry {
            item.retry += 1;
        }
    }

    /// The history entry this update adds to an item in state `from`: one when it
    /// changes the state, none otherwise.
    pub fn state_change(&self, from: ImportState) -> Option<StateChange> {
        let state = self.state.filter(|s| *s != from)?;
        Some(StateChange {
            state,
            previous: Some(from),
            at: self.now,
            note: self
                .note
                .as_deref()
                .map(|n| crate::text::truncate(n, NOTE_CHARS).into_owned()),
        })
    }

    /// Whether `item` meets this update's conditions, given its expected state.
    pub(crate) fn condition_holds(&self, item: &LedgerItem, from: ImportState) -> bool {
        let lease_free = match (self.expect_lease_free_at, item.lease_until) {
            (Some(now), Some(until)) => until < now,
            _ => true,
        };
        let events_free = match self.expect_events_free {
            Some((now, sent)) => {
                item.events_sent == sent && item.events_lease_until.is_none_or(|u| u < now)
            }
            None => true,
        };
        let events_held = self.expect_events_held.is_none_or(|(until, sent)| {
            item.events_lease_until == Some(until) && item.events_sent == sent
        });
        item.state == from
            && !(self.expect_unalerted && item.alerted)
            && lease_free
            && events_free
            && events_held
    }
}

/// A ledger in memory with the same conditional semantics as the DynamoDB one: for
/// handler tests and local experiments.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    items: Mutex<BTreeMap<String, LedgerItem>>,
}

impl MemoryLedger {
    /// Every item, in fingerprint order, for tests to inspect.
    pub fn items(&self) -> Vec<LedgerItem> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, LedgerItem>> {
        self.items
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Ledger for MemoryLedger {
    async fn get(&self, fingerprint: &str) -> Result<Option<LedgerItem>, PortError> {
        Ok(self.lock().get(fingerprint).cloned())
    }

    async fn insert_new(&self, item: &LedgerItem) -> Result<bool, PortError> {
        let mut items = self.lock();
        if items.contains_key(&item.fingerprint) {
            return Ok(false);
        }
        items.insert(item.fingerprint.clone(), item.clone());
        Ok(true)
    }

    async fn transition(
        &self,
        fingerprint: &str,
        from: ImportState,
        update: &LedgerUpdate,
    ) -> Result<bool, PortError> {
        let mut items = self.lock();
        match items.get_mut(fingerprint) {
            Some(item) if update.condition_holds(item, from) => {
                update.apply(item);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn oldest_pending(&self) -> Result<Option<LedgerItem>, PortError> {
        Ok(self
            .lock()
            .values()
            .filter(|i| i.state == ImportState::Pending)
            .min_by(|a, b| (a.created_at, &a.fingerprint).cmp(&(b.created_at, &b.fingerprint)))
            .cloned())
    }

    async fn items_in_state(&self, state: ImportState) -> Result<Vec<LedgerItem>, PortError> {
        let mut items: Vec<LedgerItem> = self
            .lock()
            .values()
            .filter(|i| i.state == state)
            .cloned()
            .collect();
        items.sort_by(|a, b| (a.created_at, &a.fingerprint).cmp(&(b.created_at, &b.fingerprint)));
        Ok(items)
    }
}

impl<L: Ledger + Send> Ledger for std::sync::Arc<L> {
    async fn get(&self, fingerprint: &str) -> Result<Option<LedgerItem>, PortError> {
        (**self).get(fingerprint).await
    }
    async fn insert_new(&self, item: &LedgerItem) -> Result<bool, PortError> {
        (**self).insert_new(item).await
    }
    async fn transition(
        &self,
        fingerprint: &str,
        from: ImportState,
        update: &LedgerUpdate,
    ) -> Result<bool, PortError> {
        (**self).transition(fingerprint, from, update).await
    }
    async fn oldest_pending(&self) -> Result<Option<LedgerItem>, PortError> {
        (**self).oldest_pending().await
    }
    async fn items_in_state(&self, state: ImportState) -> Result<Vec<LedgerItem>, PortError> {
        (**self).items_in_state(state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> LedgerItem {
        LedgerItem::new("fp", ImportState::Pending, "s3://b/m/", "m", "m-1", 1)
    }

    fn claim(now: u64) -> LedgerUpdate {
        LedgerUpdate {
            now,
            set_lease: Some(now + 120),
            expect_lease_free_at: Some(now),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_start_lease_is_exclusive_until_it_runs_out() {
        let ledger = MemoryLedger::default();
        ledger.insert_new(&pending()).await.unwrap();
        assert!(ledger
            .transition("fp", ImportState::Pending, &claim(1000))
            .await
            .unwrap());
        assert!(
            !ledger
                .transition("fp", ImportState::Pending, &claim(1001))
                .await
                .unwrap(),
            "held"
        );
        // The holder crashed: after the lease runs out another handler may start it.
        assert!(ledger
            .transition("fp", ImportState::Pending, &claim(1121))
            .await
            .unwrap());
        // Releasing (lease 0) frees it at once.
        let release = LedgerUpdate {
            now: 1122,
            set_lease: Some(0),
            ..Default::default()
        };
        assert!(ledger
            .transition("fp", ImportState::Pending, &release)
            .await
            .unwrap());
        assert!(ledger
            .transition("fp", ImportState::Pending, &claim(1123))
            .await
            .unwrap());
    }
}
