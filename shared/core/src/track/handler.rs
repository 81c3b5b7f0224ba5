//! The tracker's invocations: EventBridge schedules (their constant input names the
//! action) and operators' direct calls.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cleanup::{cleanup, CleanupReport};
use super::config::TrackerConfig;
use super::metrics::Metric;
use super::ports::TrackerPorts;
use super::sweep::{sweep, SweepReport};
use crate::import::PortError;
use crate::text::echo;

/// What an invocation asks: `{"action":"sweep"}` or
/// `{"action":"cleanup","dry_run":true}` (`dry_run` optional, null meaning false).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Follow running jobs, resend owed alerts, start the queue.
    Sweep,
    /// Delete idle models (or only plan, with `dry_run`).
    Cleanup {
        /// Only plan; delete nothing.
        #[serde(default, deserialize_with = "dry_run")]
        dry_run: bool,
    },
}

/// Why a tracker invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// The payload asks for no action the tracker knows, or its fields are wrong.
    #[error("invalid invocation: {0}")]
    Invocation(String),
    /// A call cleanup cannot go on without failed (listing the imported models).
    #[error("{0}")]
    Port(#[from] PortError),
    /// Cleanup went through every model but some calls failed.
    #[error("{} call(s) failed during cleanup: {}", .0.len(), .0.join("; "))]
    Partial(Vec<String>),
    /// The sweep got none of its work done (`SweepReport::could_not_work`).
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
    // Only an object with an `action` is deserialized: serde's tagged enums also read a
    // list (`["cleanup"]`) as tag and fields, which is not an invocation Ferry accepts.
    let Some(action) = event.get("action") else {
        if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
            return Ok(Action::Sweep);
        }
        return Err(TrackError::Invocation(
            "no \"action\" field: expected {\"action\":\"sweep\"} or {\"action\":\"cleanup\",\"dry_run\":true}".into(),
        ));
    };
    Action::deserialize(event).map_err(|e| {
        TrackError::Invocation(match action {
            // A known action: the problem is in its fields (`dry_run`'s own message).
            Value::String(a) if a == "sweep" || a == "cleanup" => e.to_string(),
            other => format!(
                "\"action\" must be \"sweep\" or \"cleanup\", not {}",
                echo(&other.to_string())
            ),
        })
    })
}

/// `dry_run`: true, false, or null (false).
fn dry_run<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(b),
        other => Err(D::Error::custom(format!(
            "\"dry_run\" must be true or false, not {}",
            echo(&other.to_string())
        ))),
    }
}

/// The tracker's payload as the Lambda runtime hands it over: the action, or why the
/// payload is not one. Its deserialization never fails on JSON, so that a bad payload is
/// reported as `Ferry.MalformedEvent` with Ferry's message rather than as the
/// runtime's own deserialization error.
#[derive(Debug)]
pub struct TrackerEvent {
    /// The action asked for, or what is wrong with the payload.
    pub action: Result<Action, TrackError>,
}

impl TrackerEvent {
    /// Reads the action of a payload (what deserializing does).
    pub fn parse(payload: &Value) -> Self {
        Self {
            action: parse_action(payload),
        }
    }
}

impl<'de> Deserialize<'de> for TrackerEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&Value::deserialize(deserializer)?))
    }
}

/// What the tracker answers: the sweep's or the cleanup's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TrackAnswer {
    /// The sweep's report.
    Sweep(Box<SweepReport>),
    /// The cleanup's report.
    Cleanup(CleanupReport),
}

/// One invocation's result and the metrics it produced, which the function prints
/// (one EMF line, none when empty) whether the invocation succeeded or not.
#[derive(Debug)]
pub struct TrackOutcome {
    /// The invocation's metrics; empty when it did no work.
    pub metrics: Vec<Metric>,
    /// What the function returns.
    pub result: Result<TrackAnswer, TrackError>,
}

impl TrackOutcome {
    fn without_metrics(error: TrackError) -> Self {
        Self {
            metrics: Vec::new(),
            result: Err(error),
        }
    }
}

/// Runs one invocation at `now`; its metrics are returned for the function to print.
pub async fn handle(
    event: TrackerEvent,
    tracker: &impl TrackerPorts,
    config: &TrackerConfig,
    now: u64,
) -> TrackOutcome {
    match event.action {
        Err(error) => TrackOutcome::without_metrics(error),
        Ok(Action::Sweep) => handle_sweep(tracker, config, now).await,
        Ok(Action::Cleanup { dry_run }) => handle_cleanup(tracker, config, dry_run, now).await,
    }
}

async fn handle_sweep(
    tracker: &impl TrackerPorts,
    config: &TrackerConfig,
    now: u64,
) -> TrackOutcome {
    let report = sweep(tracker, config, now).await;
    let metrics = report.metrics();
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
    let result = if report.could_not_work() {
        Err(TrackError::Sweep(report.errors))
    } else {
        Ok(TrackAnswer::Sweep(Box::new(report)))
    };
    TrackOutcome { metrics, result }
}

async fn handle_cleanup(
    tracker: &impl TrackerPorts,
    config: &TrackerConfig,
    dry_run: bool,
    now: u64,
) -> TrackOutcome {
    // FERRY_CLEANUP=off: the schedule only plans.
    let dry_run = dry_run || !config.cleanup.apply;
    let report = match cleanup(tracker, &config.cleanup, dry_run, now).await {
        Ok(report) => report,
        Err(error) => return TrackOutcome::without_metrics(error.into()),
    };
    let metrics = vec![Metric::count("ModelsDeleted", report.deleted.len())];
    for entry in &report.plan {
        tracing::info!(model = %entry.name, delete = entry.delete, dry_run, reason = %entry.reason, "cleanup plan");
    }
    let result = if report.errors.is_empty() {
        Ok(TrackAnswer::Cleanup(report))
    } else {
        Err(TrackError::Partial(report.errors))
    };
    TrackOutcome { metrics, result }
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
            (json!(["sweep"]), "no \"action\""),
            (json!(["cleanup", false]), "no \"action\""),
            (json!("cleanup"), "no \"action\""),
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

    #[test]
    fn a_sweep_ignores_other_fields_and_null_dry_run_is_false() {
        assert_eq!(
            parse_action(&json!({"action": "sweep", "dry_run": "x"})).unwrap(),
            Action::Sweep
        );
        assert_eq!(
            parse_action(&json!({"action": "cleanup", "dry_run": null})).unwrap(),
            Action::Cleanup { dry_run: false }
        );
        assert_eq!(
            parse_action(&json!({"action": "cleanup", "dry_run": "yes"}))
                .unwrap_err()
                .to_string(),
            "invalid invocation: \"dry_run\" must be true or false, not \"yes\""
        );
        assert_eq!(
            parse_action(&json!({"action": 5})).unwrap_err().to_string(),
            "invalid invocation: \"action\" must be \"sweep\" or \"cleanup\", not 5"
        );
    }
}
