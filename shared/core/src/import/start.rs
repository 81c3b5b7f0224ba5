//! Starting imports: the one path by which a Pending item becomes a job, used by the
//! importer after recording an item and by the tracker when the slot frees up.

use crate::outbox::{announce, EventBus};
use crate::track::after_import::Prices;
use serde::Serialize;

use super::alert::alert_for;
use super::config::StartConfig;
use super::ledger::{ImportState, LedgerItem, LedgerUpdate};
use super::ports::{
    Alerts, Clock, ContentCheck, CreateOutcome, ImportRequest, ImportService, Ledger, PortError,
    PortErrorKind,
};
use crate::import::fingerprint::tag_value;

/// How long a handler may take between claiming an item and recording the outcome of
/// its CreateModelImportJob call. Hosting clients time operations out well before it.
pub(crate) const START_LEASE_SECS: u64 = 120;
/// How long a handler may take to publish an alert it has claimed.
pub(crate) const ALERT_LEASE_SECS: u64 = 60;

/// The hosting account's ports, bundled, with the clock their timestamps are read from.
pub struct Hosting<L, I, A, E> {
    /// The import ledger (a DynamoDB table): one item per fingerprint.
    pub ledger: L,
    /// Bedrock Custom Model Import: finds the running job, creates jobs.
    pub imports: I,
    /// Where alerts for Rejected and Failed imports go (an SNS topic).
    pub alerts: A,
    /// The default event bus, where every ledger state change goes (see
    /// [`crate::outbox`]).
    pub events: E,
    /// Reads the time (seconds since the Unix epoch) stamped on ledger writes and leases.
    pub clock: Clock,
}

impl<L, I, A, E> Hosting<L, I, A, E> {
    /// The time now, from the ports' clock.
    pub fn now_secs(&self) -> u64 {
        (self.clock)()
    }
}

/// What one [`start_next`] call did; serialized with its case in `outcome`
/// (`slot_busy`, `started`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StartResult {
    /// No Pending item.
    NothingQueued,
    /// A job holds the account's slot (or the model quota is full); the queue waits.
    SlotBusy {
        /// The running job, or Bedrock's quota refusal and what to do about it.
        reason: String,
    },
    /// The oldest Pending item's job was created (or an earlier attempt's job of the
    /// same name was found); the item is Submitted.
    Started {
        /// The item's fingerprint (SHA-256 hex of the folder's content).
        fingerprint: String,
        /// The import job's ARN.
        job_arn: String,
    },
    /// Bedrock refused the request, or the folder changed since it was validated; the
    /// item is Failed (and alerted when a person must act).
    Failed {
        /// The item's fingerprint.
        fingerprint: String,
        /// Why, as recorded on the item.
        message: String,
    },
    /// Another handler moved the item first.
    LostRace {
        /// The item the other handler moved.
        fingerprint: String,
    },
}

/// Starts the oldest Pending import if the account's import slot is free. `content`
/// confirms the folder still holds what was validated: Bedrock reads the prefix when
/// the job runs, possibly long after validation.
/// `Err` only for retryable failures: the item stays Pending and the caller fails so
/// that Lambda or SQS retries.
pub async fn start_next<L: Ledger, I: ImportService, A: Alerts, E: EventBus, C: ContentCheck>(
    hosting: &Hosting<L, I, A, E>,
    config: &StartConfig,
    content: &C,
) -> Result<StartResult, PortError> {
    if let Some(job) = hosting.imports.running_job().await? {
        return Ok(StartResult::SlotBusy {
            reason: format!("job {} is in progress", job.job_name),
        });
    }
    let Some(item) = hosting.ledger.oldest_pending().await? else {
        return Ok(StartResult::NothingQueued);
    };
    let fingerprint = item.fingerprint.clone();
    // The lease and the folder's listing do not wait for each other: one round trip on
    // the way to Create (a lost race wastes one listing).
    let (claimed, current) = futures_util::join!(
        claim_start(hosting, &fingerprint),
        content.still_current(&item)
    );
    if !claimed? {
        return Ok(StartResult::LostRace { fingerprint });
    }
    if !current? {
        return supersede(hosting, &item).await;
    }
    let outcome = hosting
        .imports
        .create_job(&import_request(&item, config))
        .await;
    let now = hosting.now_secs();
    let update = match outcome {
        Ok(CreateOutcome::Started { job_arn }) => submitted(now, job_arn),
        Ok(CreateOutcome::SlotBusy(reason)) => return slot_refused(hosting, &item, reason).await,
        Ok(CreateOutcome::NameConflict(message)) => name_conflict(hosting, &item, message).await?,
        Err(err) if err.kind == PortErrorKind::Retryable => {
            release_lease(hosting, &fingerprint).await?;
            return Err(err);
        }
        Err(err) => failed(now, err.to_string()),
    };
    record_start(hosting, fingerprint, update).await
}

/// Takes the start lease: only the handler holding it calls Create, so racing handlers
/// make exactly one CreateModelImportJob per item; a crashed holder's lease runs out.
async fn claim_start<L: Ledger, I, A, E>(
    hosting: &Hosting<L, I, A, E>,
    fingerprint: &str,
) -> Result<bool, PortError> {
    let now = hosting.now_secs();
    let claim = LedgerUpdate {
        now,
        set_lease: Some(now + START_LEASE_SECS),
        expect_lease_free_at: Some(now),
        ..Default::default()
    };
    hosting
        .ledger
        .transition(fingerprint, ImportState::Pending, &claim)
        .await
}

/// Gives the start lease back; the item stays Pending.
async fn release_lease<L: Ledger, I, A, E>(
    hosting: &Hosting<L, I, A, E>,
    fingerprint: &str,
) -> Result<bool, PortError> {
    let release = LedgerUpdate {
        now: hosting.now_secs(),
        set_lease: Some(0),
        ..Default::default()
    };
    hosting
        .ledger
        .transition(fingerprint, ImportState::Pending, &release)
        .await
}

/// The folder changed after it was validated: this version fails quietly (nothing for
/// a person to do), as the new content has its own item.
async fn supersede<L: Ledger, I, A, E: EventBus>(
    hosting: &Hosting<L, I, A, E>,
    item: &LedgerItem,
) -> Result<StartResult, PortError> {
    let message = format!(
        "the folder {} changed after it was validated, so this version was not imported; its new content \
         is judged and imported as a version of its own",
        item.source_uri
    );
    let superseded = LedgerUpdate {
        set_alerted: Some(true),
        ..failed(hosting.now_secs(), message.clone())
    };
    hosting
        .ledger
        .transition(&item.fingerprint, ImportState::Pending, &superseded)
        .await?;
    announce(hosting, &item.fingerprint).await;
    Ok(StartResult::Failed {
        fingerprint: item.fingerprint.clone(),
        message,
    })
}

/// Bedrock refused Create for a quota. A job running now (ListModelImportJobs lags
/// behind a Create, so another handler's new job) is the one-job limit: wait. None
/// running: the imported-models quota is the likely limit, which no waiting fixes;
/// record it on the item and alert once.
async fn slot_refused<L: Ledger, I: ImportService, A: Alerts, E>(
    hosting: &Hosting<L, I, A, E>,
    item: &LedgerItem,
    reason: String,
) -> Result<StartResult, PortError> {
    let fingerprint = &item.fingerprint;
    if let Ok(Some(job)) = hosting.imports.running_job().await {
        release_lease(hosting, fingerprint).await?;
        return Ok(StartResult::SlotBusy {
            reason: format!("job {} is in progress", job.job_name),
        });
    }
    let blocked = format!(
        "{reason}: no import job was running, so the account's imported-models quota (3 by default) is \
         probably full; delete an unused imported model or raise the quota, and the import starts"
    );
    let attempt = LedgerUpdate {
        now: hosting.now_secs(),
        add_attempt: true,
        set_lease: Some(0),
        failure: Some(blocked.clone()),
        ..Default::default()
    };
    hosting
        .ledger
        .transition(fingerprint, ImportState::Pending, &attempt)
        .await?;
    send_alert(hosting, fingerprint).await?;
    Ok(StartResult::SlotBusy { reason: blocked })
}

/// Create found a job or model of this name: our own earlier attempt (same name, same
/// content) is recorded as submitted; anything else fails the item.
async fn name_conflict<L, I: ImportService, A, E>(
    hosting: &Hosting<L, I, A, E>,
    item: &LedgerItem,
    message: String,
) -> Result<LedgerUpdate, PortError> {
    let now = hosting.now_secs();
    Ok(match hosting.imports.get_job(&item.name).await? {
        Some(job) => submitted(now, job.job_arn),
        None => failed(
            now,
            format!(
                "{message} (a model named {} exists already: delete it, or rename the folder)",
                item.name
            ),
        ),
    })
}

/// Records Create's outcome on the item (still Pending, under our lease) and alerts
/// when it failed.
async fn record_start<L: Ledger, I, A: Alerts, E: EventBus>(
    hosting: &Hosting<L, I, A, E>,
    fingerprint: String,
    update: LedgerUpdate,
) -> Result<StartResult, PortError> {
    if !hosting
        .ledger
        .transition(&fingerprint, ImportState::Pending, &update)
        .await?
    {
        return Ok(StartResult::LostRace { fingerprint });
    }
    // After CreateModelImportJob: the events add nothing to the job's start time.
    announce(hosting, &fingerprint).await;
    match update.state {
        Some(ImportState::Failed) => {
            let message = update.failure.clone().unwrap_or_default();
            send_alert(hosting, &fingerprint).await?;
            Ok(StartResult::Failed {
                fingerprint,
                message,
            })
        }
        _ => Ok(StartResult::Started {
            fingerprint,
            job_arn: update.job_arn.unwrap_or_default(),
        }),
    }
}

fn submitted(now: u64, job_arn: String) -> LedgerUpdate {
    LedgerUpdate {
        state: Some(ImportState::Submitted),
        now,
        job_arn: Some(job_arn),
        add_attempt: true,
        submitted: true,
        set_lease: Some(0),
        // A quota alert sent while it waited must not silence a later failure alert.
        set_alerted: Some(false),
        ..Default::default()
    }
}

fn failed(now: u64, failure: String) -> LedgerUpdate {
    LedgerUpdate {
        state: Some(ImportState::Failed),
        now,
        failure: Some(failure),
        add_attempt: true,
        finished: true,
        set_lease: Some(0),
        set_alerted: Some(false),
        ..Default::default()
    }
}

/// The tags Ferry puts on every job and imported model (the only ones its roles may set).
pub const TAG_KEYS: [&str; 4] = [
    "ferry:source",
    "ferry:fingerprint",
    "ferry:model",
    "ferry:version",
];

/// The request for an item: everything derives from the item and the configuration,
/// so a retry sends the very same request (and token).
pub(crate) fn import_request(item: &LedgerItem, config: &StartConfig) -> ImportRequest {
    ImportRequest {
        job_name: item.name.clone(),
        imported_model_name: item.name.clone(),
        role_arn: config.execution_role_arn.clone(),
        s3_uri: item.source_uri.clone(),
        imported_model_kms_key_id: config.imported_model_kms_key_arn.clone(),
        vpc: config.vpc.clone(),
        tags: vec![
            (TAG_KEYS[0].into(), tag_value(&item.source_uri)),
            (TAG_KEYS[1].into(), item.fingerprint.clone()),
            (TAG_KEYS[2].into(), tag_value(&item.slug)),
            (TAG_KEYS[3].into(), env!("CARGO_PKG_VERSION").into()),
        ],
        client_request_token: client_request_token(item),
    }
}

/// The fingerprint, plus `-rN` for the Nth operator retry (a new token, a new job).
pub(crate) fn client_request_token(item: &LedgerItem) -> String {
    if item.retry == 0 {
        item.fingerprint.clone()
    } else {
        format!("{}-r{}", item.fingerprint, item.retry)
    }
}

/// The job and model name of the Nth retry: `{name}-rN`, within 63 characters.
pub(crate) fn retry_name(base: &str, retry: u32) -> String {
    let suffix = format!("-r{retry}");
    let mut name: String = base.chars().take(63 - suffix.len()).collect();
    while name.ends_with(['-', '_']) {
        name.pop();
    }
    format!("{name}{suffix}")
}

/// Sends the alert of an item at most once: the handler that takes the alert lease
/// publishes, then marks it sent. A crash in between lets the lease run out and a
/// retry send it; a publish error releases the lease at once.
pub(crate) async fn send_alert<L: Ledger, I, A: Alerts, E>(
    hosting: &Hosting<L, I, A, E>,
    fingerprint: &str,
) -> Result<bool, PortError> {
    send_alert_priced(hosting, fingerprint, &Prices::default()).await
}

/// [`send_alert`], with the cost of the model at `prices` in completion alerts.
pub(crate) async fn send_alert_priced<L: Ledger, I, A: Alerts, E>(
    hosting: &Hosting<L, I, A, E>,
    fingerprint: &str,
    prices: &Prices,
) -> Result<bool, PortError> {
    let Some(item) = hosting.ledger.get(fingerprint).await? else {
        return Ok(false);
    };
    let Some(alert) = alert_for(&item, prices) else {
        return Ok(false);
    };
    let now = hosting.now_secs();
    let claim = LedgerUpdate {
        now,
        set_lease: Some(now + ALERT_LEASE_SECS),
        expect_lease_free_at: Some(now),
        expect_unalerted: true,
        ..Default::default()
    };
    if !hosting
        .ledger
        .transition(fingerprint, item.state, &claim)
        .await?
    {
        return Ok(false);
    }
    let published = hosting.alerts.publish(&alert).await;
    let done = LedgerUpdate {
        now: hosting.now_secs(),
        set_lease: Some(0),
        set_alerted: Some(published.is_ok()),
        ..Default::default()
    };
    hosting
        .ledger
        .transition(fingerprint, item.state, &done)
        .await?;
    published.map(|()| true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn retry_names_fit_and_stay_valid() {
        assert_eq!(
            super::retry_name("llama-20261122-abcdef12", 1),
            "llama-20261122-abcdef12-r1"
        );
        let long = format!("{}-20261122-abcdef12", "a".repeat(45));
        let name = super::retry_name(&long, 12);
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("-r12") && !name.contains("--"));
    }
}
