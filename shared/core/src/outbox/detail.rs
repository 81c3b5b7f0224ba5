//! What a state-change event says: `source` [`SOURCE`], `detail-type` [`DETAIL_TYPE`],
//! and a `detail` of version [`DETAIL_VERSION`] documented in `events/README.md`.
//! Fields are only ever added within a version; consumers deduplicate on `eventId`.

use serde::Serialize;

use super::ports::BusEvent;
use crate::import::{ImportState, LedgerItem};
use crate::text;

/// The events' `source`.
pub const SOURCE: &str = "ferry";
/// The events' `detail-type`.
pub const DETAIL_TYPE: &str = "Ferry Import State Change";
/// The version of the `detail` schema.
pub const DETAIL_VERSION: &str = "1";
/// The most characters of the failure text in an event (the alert has it all).
const FAILURE_CHARS: usize = 2_000;

/// An event's `detail`: the item as it is when the event is put, and the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateEventDetail {
    /// [`DETAIL_VERSION`].
    pub version: &'static str,
    /// `{fingerprint}#{n}`: the change's place in the item's history (1-based); the
    /// same change always has the same id, so consumers can drop a repeated event.
    pub event_id: String,
    /// The content's fingerprint.
    pub fingerprint: String,
    /// `s3://bucket/prefix/`.
    pub folder: String,
    /// The model: the folder's slug, the versions' common name.
    pub model: String,
    /// This version's job and imported-model name.
    pub name: String,
    /// The stage whose ledger holds the item (`dev`); absent without stages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The state entered.
    pub state: ImportState,
    /// The state left; absent for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_state: Option<ImportState>,
    /// When the change happened (RFC 3339).
    pub time: String,
    /// Who asked and why (`ferry release`, `ferry rollback`, an automatic rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The import job's ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_arn: Option<String>,
    /// The imported model's ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_arn: Option<String>,
    /// Why it was Rejected, Failed or SmokeFailed (bounded; the alert has the rest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The smoke test's result, once it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoke: Option<SmokeDetail>,
}

/// The smoke test in an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmokeDetail {
    /// Whether the model answered.
    pub passed: bool,
    /// The start of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The answering call's latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// InvokeModel attempts, the SDK's retries included.
    pub attempts: u32,
    /// Seconds from the job's end to the first answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_answer_secs: Option<u64>,
}

impl StateEventDetail {
    /// The detail of `item`'s history entry `index` (0-based); `None` past its end.
    pub fn of(item: &LedgerItem, index: usize) -> Option<Self> {
        let change = item.history.get(index)?;
        let failed = matches!(
            change.state,
            ImportState::Failed | ImportState::Rejected | ImportState::SmokeFailed
        );
        let smoke = item.smoke.passed.map(|passed| SmokeDetail {
            passed,
            answer: item.smoke.answer.clone(),
            latency_ms: item.smoke.latency_ms,
            attempts: item.smoke.attempts,
            first_answer_secs: item.smoke.first_answer_secs,
        });
        Some(Self {
            version: DETAIL_VERSION,
            event_id: format!("{}#{}", item.fingerprint, index + 1),
            fingerprint: item.fingerprint.clone(),
            folder: item.source_uri.clone(),
            model: item.slug.clone(),
            name: item.name.clone(),
            stage: item.stage.clone(),
            state: change.state,
            previous_state: change.previous,
            time: text::time::rfc3339(change.at),
            note: change.note.clone(),
            job_arn: item.job_arn.clone(),
            model_arn: item.model_arn.clone(),
            failure: item
                .failure
                .as_deref()
                .filter(|f| failed && !f.is_empty())
                .map(|f| text::truncate(f, FAILURE_CHARS).into_owned()),
            smoke,
        })
    }
}

/// The PutEvents entry of `item`'s history entry `index`; `None` past its end.
pub fn bus_event(item: &LedgerItem, index: usize) -> Option<BusEvent> {
    let detail = StateEventDetail::of(item, index)?;
    let resources = [&item.model_arn, &item.job_arn]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    Some(BusEvent {
        source: SOURCE.into(),
        detail_type: DETAIL_TYPE.into(),
        // A struct of strings, numbers and options always serializes.
        detail: serde_json::to_string(&detail).unwrap_or_else(|_| "{}".into()),
        resources,
        time: item.history[index].at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::LedgerUpdate;

    #[test]
    fn an_event_names_the_change_and_stays_bounded() {
        let mut item = LedgerItem::new("fp", ImportState::Pending, "s3://b/m/", "m", "m-1", 10);
        LedgerUpdate {
            state: Some(ImportState::Failed),
            now: 20,
            failure: Some("x".repeat(100_000)),
            ..Default::default()
        }
        .apply(&mut item);
        let first = StateEventDetail::of(&item, 0).unwrap();
        assert_eq!(
            (first.state, first.previous_state),
            (ImportState::Pending, None)
        );
        let event = bus_event(&item, 1).unwrap();
        let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
        assert_eq!(detail["eventId"], "fp#2");
        assert_eq!(detail["state"], "Failed");
        assert_eq!(detail["previousState"], "Pending");
        assert_eq!(detail["version"], "1");
        assert!(event.detail.len() < 8_000, "{}", event.detail.len());
        assert!(bus_event(&item, 2).is_none());
    }
}
