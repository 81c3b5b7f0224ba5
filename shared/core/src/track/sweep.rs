//! The sweep (every few minutes): every Submitted import is looked up and its end
//! recorded; then, when the account's import slot is free, the oldest Pending import
//! starts through the importer's start path while the ended imports are announced;
//! then alerts that did not go out are sent.

use serde::Serialize;

use super::after_sweep::{
    put_owed_events, repair_releases, retry_auto_releases, verify_and_release,
};
use super::cleanup::run_cleanup;
use super::config::TrackerConfig;
use super::metrics::Metric;
use super::ports::{Diagnose, ModelRegistry, TrackerPorts};
use crate::import::ledger::ALL_STATES;
use crate::import::start::{send_alert, send_alert_priced, start_next};
use crate::import::{
    Alerts, Hosting, ImportService, ImportState, JobInfo, JobStatus, Ledger, LedgerItem,
    LedgerUpdate, StartResult,
};

/// What one sweep did: the tracker's answer, and the source of its metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepReport {
    /// Names of the imports whose job completed.
    pub completed: Vec<String>,
    /// Names of the imports whose job failed or no longer exists at Bedrock.
    pub failed: Vec<String>,
    /// Jobs still running.
    pub running: usize,
    /// Jobs reported for running longer than the bound (once each).
    pub stuck: Vec<String>,
    /// Alerts of earlier sweeps or handlers that had not gone out, sent now.
    pub alerts_resent: usize,
    /// A job Ferry did not start that holds the slot.
    pub foreign_job: Option<String>,
    /// Models deleted to make room for the queue (imported-models quota).
    pub freed: Vec<String>,
    /// What starting the queue did; `None` when a job held the slot, nothing was queued,
    /// or the step failed.
    pub start: Option<StartResult>,
    /// Pending imports after the sweep.
    pub queue_depth: usize,
    /// Seconds from submission to the end of each job that ended.
    pub job_seconds: Vec<u64>,
    /// Versions whose smoke test passed in this sweep.
    pub verified: Vec<String>,
    /// Versions whose smoke test failed in this sweep.
    pub smoke_failed: Vec<String>,
    /// Versions not ready yet (or the runtime busy): tried again next sweep.
    pub warming: Vec<String>,
    /// Versions released by the auto rule.
    pub released: Vec<String>,
    /// State-change events put by the sweep (owed by earlier writes).
    pub events_put: usize,
    /// Calls that failed; the sweep went on with the other items.
    pub errors: Vec<String>,
    /// Units of work that succeeded: Submitted items followed (state read, and recorded
    /// when ended), owed alerts sent, and the queue step when imports are queued (the
    /// slot checked, the head started or left waiting).
    pub work_done: usize,
}

impl SweepReport {
    /// The sweep could not do its work: a call failed and no unit of work succeeded
    /// (the ledger or Bedrock unreachable, or the role denied). The invocation then
    /// fails so that the function's Errors alarm fires. Reading the ledger, or checking
    /// the slot with nothing queued, is not work done: a sweep that can only do that
    /// has failed at everything it was there for. One failing item among successes
    /// is not this: it is logged and counted (SweepErrors), and the next sweep retries.
    pub(crate) fn could_not_work(&self) -> bool {
        !self.errors.is_empty() && self.work_done == 0
    }

    /// The sweep's metrics (EMF): no extra API calls.
    pub fn metrics(&self) -> Vec<Metric> {
        let started = usize::from(matches!(self.start, Some(StartResult::Started { .. })));
        let mut metrics = vec![
            Metric::count("ImportsStarted", started),
            Metric::count("ImportsCompleted", self.completed.len()),
            Metric::count(
                "ImportsFailed",
                self.failed.len()
                    + usize::from(matches!(self.start, Some(StartResult::Failed { .. }))),
            ),
            Metric::count("QueueDepth", self.queue_depth),
            Metric::count("ModelsDeleted", self.freed.len()),
            Metric::count("SweepErrors", self.errors.len()),
            Metric::count("ModelsVerified", self.verified.len()),
            Metric::count("SmokeTestsFailed", self.smoke_failed.len()),
            Metric::count("ModelsReleased", self.released.len()),
        ];
        if !self.job_seconds.is_empty() {
            metrics.push(Metric {
                name: "ImportJobSeconds",
                values: self.job_seconds.iter().map(|s| *s as f64).collect(),
                unit: "Seconds",
            });
        }
        metrics
    }
}

/// One sweep at `now` (epoch seconds). It never fails: the calls that failed are in
/// the report's `errors`, and the work went on without them.
pub async fn sweep(tracker: &impl TrackerPorts, config: &TrackerConfig, now: u64) -> SweepReport {
    let mut report = SweepReport::default();
    let hosting = tracker.hosting();
    let mut ended_alerts = Vec::new();
    match hosting.ledger.items_in_state(ImportState::Submitted).await {
        Ok(items) => {
            for item in items {
                if let Some(alert) = follow(tracker, config, item, now, &mut report).await {
                    ended_alerts.push(alert);
                }
            }
        }
        Err(e) => report.errors.push(e.to_string()),
    }
    // The queue first: a slow smoke test must not keep the next import from starting,
    // and the ended jobs' alerts go out while it starts (neither needs the other).
    let alerts = send_ended_alerts(hosting, config, &ended_alerts);
    let queue = start_queue(tracker, config, now, &mut report);
    let ((), alert_errors) = futures_util::future::join(queue, alerts).await;
    report.errors.extend(alert_errors);
    verify_and_release(tracker, config, now, &mut report).await;
    // One read of every state serves the owed alerts, the releases to retry or
    // repair, and the owed events.
    for state in ALL_STATES {
        match hosting.ledger.items_in_state(state).await {
            Ok(items) => {
                resend_alerts(hosting, config, state, &items, now, &mut report).await;
                match state {
                    ImportState::Verified => {
                        retry_auto_releases(tracker, config, &items, now, &mut report).await
                    }
                    ImportState::Released => repair_releases(tracker, &items, &mut report).await,
                    _ => {}
                }
                put_owed_events(tracker, &items, &mut report).await;
            }
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    report
}

/// Sends the alerts of `items` (all in `state`) that did not go out (a publish error, a
/// crash); completion notices only for a day (turning notices on does not announce old
/// imports).
async fn resend_alerts<L: Ledger, I, A: Alerts, E>(
    hosting: &Hosting<L, I, A, E>,
    config: &TrackerConfig,
    state: ImportState,
    items: &[LedgerItem],
    now: u64,
    report: &mut SweepReport,
) {
    let owed = match state {
        ImportState::Failed
        | ImportState::Rejected
        | ImportState::Deleted
        | ImportState::SmokeFailed => true,
        ImportState::Completed => config.notify_completed,
        _ => false,
    };
    if !owed {
        return;
    }
    let recent = |i: &&LedgerItem| {
        state != ImportState::Completed || i.finished_at.is_some_and(|t| t + 24 * 3600 >= now)
    };
    for item in items.iter().filter(|i| !i.alerted).filter(recent) {
        let prices = &config.after_import.prices;
        match send_alert_priced(hosting, &item.fingerprint, prices).await {
            Ok(sent) => {
                report.alerts_resent += usize::from(sent);
                report.work_done += 1;
            }
            Err(e) => report.errors.push(format!("{}: {e}", item.name)),
        }
    }
}

/// One Submitted import: its job's state, recorded. Gives the item whose end is owed
/// an alert (a failure, or a completion when notices are on).
async fn follow(
    tracker: &impl TrackerPorts,
    config: &TrackerConfig,
    item: LedgerItem,
    now: u64,
    report: &mut SweepReport,
) -> Option<LedgerItem> {
    let job_ref = item.job_arn.clone().unwrap_or_else(|| item.name.clone());
    let job = match tracker.hosting().imports.get_job(&job_ref).await {
        Ok(job) => job,
        Err(e) => {
            report.errors.push(format!("{}: {e}", item.name));
            return None;
        }
    };
    let submitted_at = item.submitted_at.unwrap_or(item.created_at);
    let ended_at = job.as_ref().and_then(|j| j.end_time).unwrap_or(now);
    let (update, failed) = match job {
        None => {
            let gone = format!("the import job {job_ref} no longer exists at Bedrock");
            (ended(ImportState::Failed, now, Some(gone)), true)
        }
        Some(job) => match job.status {
            JobStatus::InProgress => {
                still_running(tracker.hosting(), config, &item, now, report).await;
                return None;
            }
            JobStatus::Completed => (completion(tracker, &item, &job, now, report).await, false),
            JobStatus::Failed => (failure(tracker, &item, job, now).await, true),
        },
    };
    if !record_end(tracker.hosting(), &item, &update, report).await {
        return None;
    }
    // From submission to the job's own end (not to the sweep that noticed it).
    report
        .job_seconds
        .push(ended_at.saturating_sub(submitted_at));
    if failed {
        report.failed.push(item.name.clone());
    } else {
        report.completed.push(item.name.clone());
    }
    (failed || config.notify_completed).then_some(item)
}

/// The alerts of the jobs this sweep saw end, sent together; their errors.
async fn send_ended_alerts<L: Ledger, I, A: Alerts, E>(
    hosting: &Hosting<L, I, A, E>,
    config: &TrackerConfig,
    items: &[LedgerItem],
) -> Vec<String> {
    let prices = &config.after_import.prices;
    let sent = futures_util::future::join_all(
        items
            .iter()
            .map(|item| send_alert_priced(hosting, &item.fingerprint, prices)),
    )
    .await;
    items
        .iter()
        .zip(sent)
        .filter_map(|(item, sent)| sent.err().map(|e| format!("{}: {e}", item.name)))
        .collect()
}

/// A job still running: counted, and alerted once when it runs longer than the bound.
async fn still_running<L: Ledger, I, A: Alerts, E>(
    hosting: &Hosting<L, I, A, E>,
    config: &TrackerConfig,
    item: &LedgerItem,
    now: u64,
    report: &mut SweepReport,
) {
    report.running += 1;
    report.work_done += 1;
    let submitted_at = item.submitted_at.unwrap_or(item.created_at);
    if now.saturating_sub(submitted_at) > config.max_job_seconds && !item.alerted {
        match send_alert(hosting, &item.fingerprint).await {
            Ok(true) => report.stuck.push(item.name.clone()),
            Ok(false) => {}
            Err(e) => report.errors.push(format!("{}: {e}", item.name)),
        }
    }
}

/// The update of a completed job, with the imported model's details when Bedrock
/// gives them (the completion is recorded anyway; the details are optional).
async fn completion(
    tracker: &impl TrackerPorts,
    item: &LedgerItem,
    job: &JobInfo,
    now: u64,
    report: &mut SweepReport,
) -> LedgerUpdate {
    let mut update = ended(ImportState::Completed, now, None);
    update.model_arn.clone_from(&job.imported_model_arn);
    let model_ref = job
        .imported_model_arn
        .clone()
        .unwrap_or_else(|| item.name.clone());
    match tracker.models().get_model(&model_ref).await {
        Ok(Some(model)) => {
            update.model_arn = Some(model.arn);
            update.set_architecture = model.architecture;
            update.set_custom_model_units = model.custom_model_units;
        }
        Ok(None) => {}
        Err(e) => report.errors.push(format!("{}: {e}", item.name)),
    }
    update
}

/// The update of a failed job: Bedrock's message, with Ferry's access check of the
/// chain when Bedrock says it could not read the weights.
async fn failure(
    tracker: &impl TrackerPorts,
    item: &LedgerItem,
    job: JobInfo,
    now: u64,
) -> LedgerUpdate {
    let message = job
        .failure_message
        .unwrap_or_else(|| "the job failed without a message".into());
    let mut failure = message.clone();
    if message.contains("does not have access to the S3 location") {
        if let Some(diagnosis) = tracker.diagnose().diagnose(item).await {
            failure.push_str("\n\nFerry's access check of the chain now:\n\n");
            failure.push_str(&diagnosis);
        }
    }
    ended(ImportState::Failed, now, Some(failure))
}

/// Records a job's end on its Submitted item; `false` when this sweep did not record
/// it (another sweep did first, or the write failed).
async fn record_end<L: Ledger, I, A, E>(
    hosting: &Hosting<L, I, A, E>,
    item: &LedgerItem,
    update: &LedgerUpdate,
    report: &mut SweepReport,
) -> bool {
    match hosting
        .ledger
        .transition(&item.fingerprint, ImportState::Submitted, update)
        .await
    {
        // Another sweep recorded it first.
        Ok(false) => {
            report.work_done += 1;
            false
        }
        Ok(true) => {
            report.work_done += 1;
            tracing::info!(fingerprint = %item.fingerprint, name = %item.name, state = ?update.state, "import ended");
            true
        }
        Err(e) => {
            report.errors.push(format!("{}: {e}", item.name));
            false
        }
    }
}

fn ended(state: ImportState, now: u64, failure: Option<String>) -> LedgerUpdate {
    LedgerUpdate {
        state: Some(state),
        now,
        failure,
        finished: true,
        // A "taking long" alert must not silence the final one.
        set_alerted: Some(false),
        ..Default::default()
    }
}

/// Starts the oldest Pending import when the slot is free, after freeing an idle
/// model if the imported-models quota is full.
async fn start_queue(
    tracker: &impl TrackerPorts,
    config: &TrackerConfig,
    now: u64,
    report: &mut SweepReport,
) {
    let hosting = tracker.hosting();
    let pending = match hosting.ledger.items_in_state(ImportState::Pending).await {
        Ok(items) => items,
        Err(e) => {
            report.errors.push(e.to_string());
            return;
        }
    };
    report.queue_depth = pending.len();
    match hosting.imports.running_job().await {
        Ok(Some(job)) => {
            // Ferry's own job may still be Pending in the ledger (its Submitted write
            // not landed yet, or the index lagging): match both lists, by name and ARN.
            let submitted = hosting.ledger.items_in_state(ImportState::Submitted).await;
            let ours = match submitted {
                Ok(submitted) => submitted.iter().chain(pending.iter()).any(|i| {
                    i.name == job.job_name || i.job_arn.as_deref() == Some(job.job_arn.as_str())
                }),
                Err(_) => true,
            };
            if !ours {
                report_foreign(hosting, &job.job_name, &job.job_arn, now, report).await;
            }
            report.work_done += usize::from(!pending.is_empty());
            return;
        }
        Ok(None) => {}
        Err(e) => {
            report.errors.push(e.to_string());
            return;
        }
    }
    if pending.is_empty() {
        return;
    }
    // Configured quota: make room before the queue would exceed it.
    if let Some(quota) = config.models_quota {
        match tracker.models().list_models().await {
            Ok(models) if models.len() >= quota => free_one(tracker, config, now, report).await,
            Ok(_) => {}
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    let mut result = start_next(hosting, &config.start, tracker.content()).await;
    // Bedrock refused for a quota while no job runs: the imported-models quota is
    // full. Free the idlest candidate once and try again.
    if matches!(result, Ok(StartResult::SlotBusy { .. }))
        && report.freed.is_empty()
        && matches!(hosting.imports.running_job().await, Ok(None))
    {
        free_one(tracker, config, now, report).await;
        if !report.freed.is_empty() {
            result = start_next(hosting, &config.start, tracker.content()).await;
        }
    }
    match result {
        Ok(result) => {
            report.work_done += 1;
            if matches!(result, StartResult::Started { .. }) {
                report.queue_depth = report.queue_depth.saturating_sub(1);
            }
            report.start = Some(result);
        }
        Err(e) => report.errors.push(e.to_string()),
    }
}

/// Deletes the idlest model every cleanup rule lets go (none when cleanup is off).
async fn free_one(
    tracker: &impl TrackerPorts,
    config: &TrackerConfig,
    now: u64,
    report: &mut SweepReport,
) {
    if !config.cleanup.apply {
        return;
    }
    match run_cleanup(
        tracker.hosting(),
        tracker.models(),
        tracker.usage(),
        &config.cleanup,
        false,
        Some(1),
        now,
    )
    .await
    {
        Ok(cleanup) => {
            report.errors.extend(cleanup.errors);
            report.freed.extend(cleanup.deleted);
        }
        Err(e) => report.errors.push(e.to_string()),
    }
}

/// A job Ferry did not start: recorded once, announced once, left alone.
async fn report_foreign<L: Ledger, I, A: Alerts, E>(
    hosting: &Hosting<L, I, A, E>,
    job_name: &str,
    job_arn: &str,
    now: u64,
    report: &mut SweepReport,
) {
    report.foreign_job = Some(job_arn.to_owned());
    let key = format!("job:{job_arn}");
    let item = LedgerItem {
        job_arn: Some(job_arn.to_owned()),
        ..LedgerItem::new(&key, ImportState::Foreign, "", job_name, job_name, now)
    };
    match hosting.ledger.insert_new(&item).await {
        Ok(_) => {
            // Sent once: the alerted flag stays set after the first success.
            if let Err(e) = send_alert(hosting, &key).await {
                report.errors.push(format!("{job_name}: {e}"));
            }
        }
        Err(e) => report.errors.push(format!("{job_name}: {e}")),
    }
}
