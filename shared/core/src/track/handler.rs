//! The tracker's invocations: EventBridge schedules (their constant input names the
//! action) and operators' direct calls.

use serde_json::{json, Value};

use super::config::TrackerConfig;
use super::metrics::{emf_line, Metric};
use super::ports::{Diagnose, ModelRegistry, Usage};
use super::sweep::{sweep, Tracker};
use crate::import::{Alerts, ContentCheck, ImportService, Ledger, PortError};
use crate::text::echo;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Sweep,
    Cleanup { dry_run: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("invalid invocation: {0}")]
    Invocation(String),
    #[error("{0}")]
    Port(#[from] PortError),
    /// Cleanup went through every model but some calls failed.
    #[error("{} call(s) failed during cleanup: {}", .0.len(), .0.join("; "))]
    Partial(Vec<String>),
    /// The sweep got none of its work done ([`crate::track::SweepReport::could_not_work`]).
    #[error(
        "the sweep could not do its work: {} call(s) failed and none of its work succeeded (first: {}). \
         Check that the tracker's role can reach the ledger table (DynamoDB) and Bedrock in this \
         region; the error lines of this invocation name every failed call; the next sweep retries",
        .0.len(),
        echo(.0.first().map_or("", String::as_str))
    )]
    Sweep(Vec<String>),
}

/// `{"action":"sweep"}`, `{"action":"cleanup","dry_run":true}`, or a bare EventBridge
/// scheduled event (a sweep).
pub fn parse_action(event: &Value) -> Result<Action, TrackError> {
    let bad = |m: String| Err(TrackError::Invocation(m));
    match event.get("action") {
        None if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") => {
            Ok(Action::Sweep)
        }
        None => bad("no \"action\" field: expected {\"action\":\"sweep\"} or {\"action\":\"cleanup\",\"dry_run\":true}".into()),
        Some(Value::String(a)) if a == "sweep" => Ok(Action::Sweep),
        Some(Value::String(a)) if a == "cleanup" => match event.get("dry_run") {
            None | Some(Value::Null) => Ok(Action::Cleanup { dry_run: false }),
            Some(Value::Bool(b)) => Ok(Action::Cleanup { dry_run: *b }),
            Some(other) => bad(format!("\"dry_run\" must be true or false, not {other}")),
        },
        Some(other) => bad(format!("\"action\" must be \"sweep\" or \"cleanup\", not {other}")),
    }
}

/// Runs one invocation; prints its metrics as an EMF line on stdout.
pub async fn handle<L, I, A, M, U, C, D>(
    event: &Value,
    tracker: &Tracker<L, I, A, M, U, C, D>,
    config: &TrackerConfig,
    now: u64,
) -> Result<Value, TrackError>
where
    L: Ledger,
    I: ImportService,
    A: Alerts,
    M: ModelRegistry,
    U: Usage,
    C: ContentCheck,
    D: Diagnose,
{
    match parse_action(event)? {
        Action::Sweep => {
            let report = sweep(tracker, config, now).await;
            println!("{}", emf_line(&report.metrics(), now * 1000));
            tracing::info!(
                completed = report.completed.len(),
                failed = report.failed.len(),
                running = report.running,
                queue_depth = report.queue_depth,
                errors = report.errors.len(),
                "sweep done"
            );
            for error in &report.errors {
                tracing::error!(%error, "sweep call failed; the next sweep retries it");
            }
            // One failing item among successes is reported (SweepErrors and its alarm,
            // the lines above) and the invocation succeeds; a sweep that got nothing
            // done fails it, for the function's Errors alarm.
            if report.could_not_work() {
                return Err(TrackError::Sweep(report.errors));
            }
            Ok(serde_json::to_value(&report).unwrap_or_default())
        }
        Action::Cleanup { dry_run } => {
            // FERRY_CLEANUP=off: the schedule only plans.
            let dry_run = dry_run || !config.cleanup.apply;
            let report = tracker.cleanup(&config.cleanup, dry_run, now).await?;
            println!(
                "{}",
                emf_line(
                    &[Metric::count("ModelsDeleted", report.deleted.len())],
                    now * 1000
                )
            );
            for entry in &report.plan {
                tracing::info!(model = %entry.name, delete = entry.delete, dry_run, reason = %entry.reason, "cleanup plan");
            }
            if report.errors.is_empty() {
                Ok(json!(report))
            } else {
                Err(TrackError::Partial(report.errors))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_action, Action};
    use serde_json::json;

    #[test]
    fn actions_and_their_errors() {
        assert_eq!(
            parse_action(&json!({"action": "sweep"})).unwrap(),
            Action::Sweep
        );
        assert_eq!(
            parse_action(&json!({"action": "cleanup", "dry_run": true})).unwrap(),
            Action::Cleanup { dry_run: true }
        );
        assert_eq!(
            parse_action(&json!({"detail-type": "Scheduled Event", "source": "aws.events"}))
                .unwrap(),
            Action::Sweep
        );
        for (event, expected) in [
            (json!({}), "no \"action\""),
            (json!({"action": "purge"}), "\"action\" must be"),
            (
                json!({"action": "cleanup", "dry_run": "yes"}),
                "\"dry_run\" must be",
            ),
        ] {
            let err = parse_action(&event).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
