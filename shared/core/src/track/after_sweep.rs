//! The sweep's work after imports complete: each Completed version is smoke-tested
//! (one attempt per sweep until it answers, fails, or its deadline passes), a version
//! that passes is released when the rule is auto, a model left with two live versions
//! is repaired, and every state-change event still owed goes out.

use super::after_import::ReleaseMode;
use super::config::TrackerConfig;
use super::ports::TrackerPorts;
use super::sweep::SweepReport;
use crate::import::start::send_alert_priced;
use crate::import::{ImportState, Ledger, LedgerItem, LedgerUpdate, SmokeRecord};
use crate::outbox::publish_pending;
use crate::release::{self, ReleaseError, ReleasePointer};
use crate::verify::{
    judge_attempt, AttemptTimes, InvokeModel, SmokeConfig, SmokeFailure, SmokeOutcome, SmokeRequest,
};

/// Smoke tests a sweep makes at most: each may take up to a minute (the SDK's own
/// retries of a model that is not ready), and a sweep must end within its timeout.
pub(crate) const MAX_SMOKE_TESTS_PER_SWEEP: usize = 3;

/// Smoke-tests and releases the Completed versions.
pub(crate) async fn verify_and_release(
    tracker: &impl TrackerPorts,
    config: &TrackerConfig,
    now: u64,
    report: &mut SweepReport,
) {
    let completed = match tracker
        .hosting()
        .ledger
        .items_in_state(ImportState::Completed)
        .await
    {
        Ok(items) => items,
        Err(e) => return report.errors.push(e.to_string()),
    };
    // Items recorded before Ferry kept a history predate the smoke test: left alone.
    // Without the smoke test, only a day's completions are released (a release that
    // keeps failing is not retried forever).
    let smoke_off = config.after_import.smoke.is_none();
    let fresh = completed
        .into_iter()
        .filter(|i| !i.history.is_empty() && i.model_arn.is_some())
        .filter(|i| !smoke_off || i.finished_at.is_some_and(|t| t + 24 * 3600 >= now));
    for item in fresh.take(MAX_SMOKE_TESTS_PER_SWEEP) {
        let verified = match &config.after_import.smoke {
            Some(smoke) => smoke_test(tracker, config, smoke, &item, now, report).await,
            None => true,
        };
        if verified && config.after_import.release == ReleaseMode::Auto {
            let force = config.after_import.smoke.is_none();
            auto_release(tracker, &item, force, report).await;
        }
    }
}

/// One smoke attempt on a Completed item, recorded; `true` when it passed.
async fn smoke_test(
    tracker: &impl TrackerPorts,
    config: &TrackerConfig,
    smoke: &SmokeConfig,
    item: &LedgerItem,
    now: u64,
    report: &mut SweepReport,
) -> bool {
    let Some(arn) = item.model_arn.as_deref() else {
        report.errors.push(format!(
            "{}: Completed without a model ARN; not smoke-tested",
            item.name
        ));
        return false;
    };
    let ended = item.finished_at.unwrap_or(now);
    let first_attempt = item.smoke.first_attempt_at.unwrap_or(now);
    let request = SmokeRequest::new(arn, item.architecture.as_deref(), ended, smoke);
    let result = tracker.runtime().invoke(arn, &request.body).await;
    let (attempts, latency_ms) = match &result {
        Ok(reply) => (reply.attempts, reply.latency_ms),
        Err(e) => (e.attempts, 0),
    };
    // The deadline runs from the first attempt when that came later than the job's end.
    let late_start = first_attempt.saturating_sub(ended);
    let times = AttemptTimes {
        job_ended_at: ended,
        now,
        deadline_secs: smoke.deadline_secs.saturating_add(late_start),
    };
    let outcome = judge_attempt(&request, result, latency_ms, times, smoke.answer_chars);
    let mut record = SmokeRecord {
        attempts: item.smoke.attempts.saturating_add(attempts.max(1)),
        format: Some(request.choice.format.as_str().to_owned()),
        first_attempt_at: Some(first_attempt),
        ..item.smoke.clone()
    };
    report.work_done += 1;
    let (update, passed) = smoke_update(&outcome, &mut record, now);
    let recorded = tracker
        .hosting()
        .ledger
        .transition(&item.fingerprint, ImportState::Completed, &update)
        .await;
    match (recorded, &outcome) {
        (Ok(true), SmokeOutcome::Passed(_)) => report.verified.push(item.name.clone()),
        (Ok(true), SmokeOutcome::Failed(_)) => {
            report.smoke_failed.push(item.name.clone());
            let prices = &config.after_import.prices;
            if let Err(e) = send_alert_priced(tracker.hosting(), &item.fingerprint, prices).await {
                report.errors.push(format!("{}: {e}", item.name));
            }
        }
        (Ok(true), _) => report.warming.push(item.name.clone()),
        (Ok(false), _) => return false,
        (Err(e), _) => {
            report.errors.push(format!("{}: {e}", item.name));
            return false;
        }
    }
    passed
}

/// The ledger update of one attempt's outcome, and whether it passed.
fn smoke_update(
    outcome: &SmokeOutcome,
    record: &mut SmokeRecord,
    now: u64,
) -> (LedgerUpdate, bool) {
    let base = LedgerUpdate {
        now,
        ..Default::default()
    };
    match outcome {
        SmokeOutcome::Passed(pass) => {
            record.passed = Some(true);
            record.answer = Some(pass.answer.text.clone());
            record.latency_ms = Some(pass.latency_ms);
            record.first_answer_secs = Some(pass.secs_since_job_end);
            record.last_error = None;
            let update = LedgerUpdate {
                state: Some(ImportState::Verified),
                set_smoke: Some(record.clone()),
                note: Some("smoke test passed".into()),
                ..base
            };
            (update, true)
        }
        SmokeOutcome::Warming { .. } => {
            record.last_error = Some("ModelNotReadyException: the model is being restored".into());
            (
                LedgerUpdate {
                    set_smoke: Some(record.clone()),
                    ..base
                },
                false,
            )
        }
        SmokeOutcome::RetryLater { reason, .. } => {
            record.last_error = Some(reason.clone());
            (
                LedgerUpdate {
                    set_smoke: Some(record.clone()),
                    ..base
                },
                false,
            )
        }
        SmokeOutcome::Failed(failure) => {
            record.passed = Some(false);
            record.last_error = Some(failure.came_back.clone());
            let update = LedgerUpdate {
                state: Some(ImportState::SmokeFailed),
                set_smoke: Some(record.clone()),
                failure: Some(failure_text(failure)),
                set_alerted: Some(false),
                note: Some(format!("smoke test failed: {:?}", failure.cause)),
                ..base
            };
            (update, false)
        }
    }
}

/// The failure text the ledger keeps and the alert shows.
pub(crate) fn failure_text(failure: &SmokeFailure) -> String {
    format!(
        "The smoke test ({:?}) failed.\n\nSent (InvokeModel body):\n{}\n\nCame back:\n{}\n\nWhat to do: {}",
        failure.cause, failure.sent, failure.came_back, failure.next_step
    )
}

/// Releases a version by the auto rule; a refusal is reported, not retried.
async fn auto_release(
    tracker: &impl TrackerPorts,
    item: &LedgerItem,
    force: bool,
    report: &mut SweepReport,
) {
    let note = if force {
        "automatic: the import completed (smoke test off)"
    } else {
        "automatic: the smoke test passed"
    };
    let released =
        release::release_automatically(tracker.hosting(), tracker.pointer(), item, note, force)
            .await;
    match released {
        Ok(Some(outcome)) => report.released.push(outcome.live),
        Ok(None) => {}
        Err(ReleaseError::Port(e)) => report.errors.push(format!("releasing {}: {e}", item.name)),
        Err(e) => report
            .errors
            .push(format!("{} not released: {e}", item.name)),
    }
}

/// With the auto rule, releases the `verified` versions of the last day that never
/// were live: their release failed on an earlier sweep (a throttled call).
pub(crate) async fn retry_auto_releases(
    tracker: &impl TrackerPorts,
    config: &TrackerConfig,
    verified: &[LedgerItem],
    now: u64,
    report: &mut SweepReport,
) {
    if config.after_import.release != ReleaseMode::Auto {
        return;
    }
    let never_live = |i: &&LedgerItem| {
        !i.history.is_empty()
            && i.finished_at.is_some_and(|t| t + 24 * 3600 >= now)
            && !i.history.iter().any(|c| c.state == ImportState::Released)
    };
    for item in verified.iter().filter(never_live) {
        auto_release(tracker, item, false, report).await;
    }
}

/// Repairs every model whose `released` versions are two (a crash or a race between
/// releases) or whose pointer does not name its live version (a crash between the
/// ledger write and the parameter write): one GetParameter per released model.
pub(crate) async fn repair_releases(
    tracker: &impl TrackerPorts,
    released: &[LedgerItem],
    report: &mut SweepReport,
) {
    let mut by_model: std::collections::BTreeMap<&str, Vec<&LedgerItem>> = Default::default();
    for item in released {
        by_model.entry(item.slug.as_str()).or_default().push(item);
    }
    for (model, items) in by_model {
        let needs_repair = match items.as_slice() {
            [only] => match tracker.pointer().live(model).await {
                Ok(value) => value != only.model_arn,
                Err(e) => {
                    report
                        .errors
                        .push(format!("reading the release of {model}: {e}"));
                    continue;
                }
            },
            _ => true,
        };
        if !needs_repair {
            continue;
        }
        match release::reconcile(tracker.hosting(), tracker.pointer(), model).await {
            Ok(_) => report.work_done += 1,
            Err(e) => report
                .errors
                .push(format!("repairing the release of {model}: {e}")),
        }
    }
}

/// Puts the events still owed by `items` (a crash between a write and its put, or the
/// bus unavailable then).
pub(crate) async fn put_owed_events(
    tracker: &impl TrackerPorts,
    items: &[LedgerItem],
    report: &mut SweepReport,
) {
    let hosting = tracker.hosting();
    for item in items.iter().filter(|i| i.events_owed()) {
        match publish_pending(
            &hosting.ledger,
            &hosting.events,
            hosting.clock,
            &item.fingerprint,
        )
        .await
        {
            Ok(n) => report.events_put += n,
            Err(e) => report.errors.push(format!("{}: {e}", item.name)),
        }
    }
}
