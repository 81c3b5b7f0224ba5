//! Starting imports: the one path by which a Pending item becomes a job, used by the
//! importer after recording an item and by the tracker when the slot frees up.

use serde::Serialize;

use super::alert::alert_for;
use super::config::StartConfig;
use super::ledger::{ImportState, LedgerItem, LedgerUpdate};
use super::ports::{
    Alerts, CreateOutcome, ImportRequest, ImportService, Ledger, PortError, PortErrorKind,
};
use crate::model_folder::tag_value;
use crate::time::now_secs;

/// How long a handler may take between claiming an item and recording the outcome of
/// its CreateModelImportJob call (SDK retries included).
pub const START_LEASE_SECS: u64 = 120;

/// The hosting account's ports, bundled.
pub struct Hosting<L, I, A> {
    pub ledger: L,
    pub imports: I,
    pub alerts: A,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StartResult {
    /// No Pending item.
    NothingQueued,
    /// A job holds the account's slot; the queue waits.
    SlotBusy { reason: String },
    Started {
        fingerprint: String,
        job_arn: String,
    },
    /// Bedrock refused the request; the item is Failed and alerted.
    Failed {
        fingerprint: String,
        message: String,
    },
    /// Another handler moved the item first.
    LostRace { fingerprint: String },
}

/// Starts the oldest Pending import if the account's import slot is free.
/// `Err` only for retryable failures: the item stays Pending and the caller fails so
/// that Lambda or SQS retries.
pub async fn start_next<L: Ledger, I: ImportService, A: Alerts>(
    hosting: &Hosting<L, I, A>,
    config: &StartConfig,
) -> Result<StartResult, PortError> {
    if let Some(job) = hosting.imports.running_job().await? {
        return Ok(StartResult::SlotBusy {
            reason: format!("job {} is in progress", job.job_name),
        });
    }
    let Some(item) = hosting.ledger.oldest_pending().await? else {
        return Ok(StartResult::NothingQueued);
    };
    let request = import_request(&item, config);
    let fingerprint = item.fingerprint.clone();
    // Only the handler holding the lease calls Create: with racing handlers, exactly
    // one CreateModelImportJob per item. A crashed holder's lease simply runs out.
    let now = now_secs();
    let claim = LedgerUpdate {
        now,
        set_lease: Some(now + START_LEASE_SECS),
        expect_lease_free_at: Some(now),
        ..Default::default()
    };
    if !hosting
        .ledger
        .transition(&fingerprint, ImportState::Pending, &claim)
        .await?
    {
        return Ok(StartResult::LostRace { fingerprint });
    }
    let outcome = hosting.imports.create_job(&request).await;
    let now = now_secs();
    let update = match outcome {
        Ok(CreateOutcome::Started { job_arn }) => submitted(now, job_arn),
        Ok(CreateOutcome::SlotBusy(reason)) => {
            let attempt = LedgerUpdate {
                now,
                add_attempt: true,
                set_lease: Some(0),
                ..Default::default()
            };
            hosting
                .ledger
                .transition(&fingerprint, ImportState::Pending, &attempt)
                .await?;
            return Ok(StartResult::SlotBusy { reason });
        }
        Ok(CreateOutcome::NameConflict(message)) => {
            match hosting.imports.get_job(&item.name).await? {
                // Our own earlier attempt (same name, same content): record it.
                Some(job) => submitted(now, job.job_arn),
                None => failed(
                    now,
                    format!(
                    "{message} (a model named {} exists already: delete it or rename the folder)",
                    item.name
                ),
                ),
            }
        }
        Err(err) if err.kind == PortErrorKind::Retryable => {
            let release = LedgerUpdate {
                now,
                set_lease: Some(0),
                ..Default::default()
            };
            hosting
                .ledger
                .transition(&fingerprint, ImportState::Pending, &release)
                .await?;
            return Err(err);
        }
        Err(err) => failed(now, err.to_string()),
    };
    if !hosting
        .ledger
        .transition(&fingerprint, ImportState::Pending, &update)
        .await?
    {
        return Ok(StartResult::LostRace { fingerprint });
    }
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
        set_lease: Some(0),
        state: Some(ImportState::Submitted),
        now,
        job_arn: Some(job_arn),
        add_attempt: true,
        submitted: true,
        ..Default::default()
    }
}

fn failed(now: u64, failure: String) -> LedgerUpdate {
    LedgerUpdate {
        set_lease: Some(0),
        state: Some(ImportState::Failed),
        now,
        failure: Some(failure),
        add_attempt: true,
        finished: true,
        ..Default::default()
    }
}

/// The request for an item: everything derives from the item and the configuration,
/// so a retry sends the very same request (and token).
pub fn import_request(item: &LedgerItem, config: &StartConfig) -> ImportRequest {
    ImportRequest {
        job_name: item.name.clone(),
        imported_model_name: item.name.clone(),
        role_arn: config.execution_role_arn.clone(),
        s3_uri: item.source_uri.clone(),
        imported_model_kms_key_id: config.imported_model_kms_key_arn.clone(),
        vpc: config.vpc.clone(),
        tags: vec![
            ("ferry:source".into(), tag_value(&item.source_uri)),
            ("ferry:fingerprint".into(), item.fingerprint.clone()),
            ("ferry:model".into(), tag_value(&item.slug)),
            ("ferry:version".into(), env!("CARGO_PKG_VERSION").into()),
        ],
        client_request_token: item.fingerprint.clone(),
    }
}

/// Sends the alert of a Rejected or Failed item exactly once: the handler that flips
/// `alerted` publishes; if publishing fails the flag is put back and the error
/// returned, so a retry sends it.
pub async fn send_alert<L: Ledger, I, A: Alerts>(
    hosting: &Hosting<L, I, A>,
    fingerprint: &str,
) -> Result<bool, PortError> {
    let Some(item) = hosting.ledger.get(fingerprint).await? else {
        return Ok(false);
    };
    let Some(alert) = alert_for(&item) else {
        return Ok(false);
    };
    let claim = LedgerUpdate {
        now: now_secs(),
        set_alerted: Some(true),
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
    if let Err(err) = hosting.alerts.publish(&alert).await {
        let release = LedgerUpdate {
            now: now_secs(),
            set_alerted: Some(false),
            ..Default::default()
        };
        hosting
            .ledger
            .transition(fingerprint, item.state, &release)
            .await?;
        return Err(err);
    }
    Ok(true)
}
