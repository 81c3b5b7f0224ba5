//! What the importer answers an invocation with: the decisions, the records it
//! ignored, and for an SQS batch the messages SQS must deliver again.

use serde::{Deserialize, Serialize};

use super::importer::Decision;
use crate::track::metrics::Metric;

/// The importer's answer, as Lambda returns it to the caller (SQS reads
/// `batchItemFailures`; the local stack and the bench read it back with this type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ImportAnswer {
    /// Nothing in the payload was for Ferry: `{"ignored": reason}`.
    Ignored {
        /// Why the payload was ignored.
        ignored: String,
    },
    /// The payload's objects (or messages) were judged.
    Handled(Handled),
}

/// The answer to a payload with something Ferry acts on. Serialized in this field
/// order, the order the answer has always had.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handled {
    /// SQS batches only: the messages that failed (SQS's partial batch response).
    #[serde(
        rename = "batchItemFailures",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub batch_item_failures: Option<Vec<BatchItemFailure>>,
    /// One decision per folder judged.
    pub decisions: Vec<Decision>,
    /// Why each record of another source was ignored (capped by the parser).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

/// One message of an SQS batch to deliver again. Ferry's own type rather than
/// `aws_lambda_events`'s: ferry-core knows no AWS crate, and this is all it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItemFailure {
    /// The SQS message id.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl ImportAnswer {
    /// The decisions made (none for an ignored payload).
    pub fn decisions(&self) -> &[Decision] {
        match self {
            ImportAnswer::Ignored { .. } => &[],
            ImportAnswer::Handled(handled) => &handled.decisions,
        }
    }

    /// The ids of the SQS messages to deliver again (none outside a batch).
    pub fn failed_messages(&self) -> impl Iterator<Item = &str> {
        let failures = match self {
            ImportAnswer::Handled(Handled {
                batch_item_failures: Some(failures),
                ..
            }) => failures.as_slice(),
            _ => &[],
        };
        failures.iter().map(|f| f.item_identifier.as_str())
    }
}

/// One invocation's result: the answer, and the metrics the function prints (one EMF
/// line, none when nothing was decided).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOutcome {
    /// What the function returns.
    pub answer: ImportAnswer,
    /// The importer's metrics for this invocation; empty when no folder was decided.
    pub metrics: Vec<Metric>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_serialize_as_the_json_the_function_always_returned() {
        let ignored = ImportAnswer::Ignored {
            ignored: "why".into(),
        };
        assert_eq!(
            serde_json::to_string(&ignored).unwrap(),
            r#"{"ignored":"why"}"#
        );
        let batch = ImportAnswer::Handled(Handled {
            batch_item_failures: Some(vec![BatchItemFailure {
                item_identifier: "m-1".into(),
            }]),
            decisions: vec![Decision::NotReady {
                folder: "s3://b/m/".into(),
                reason: "r".into(),
            }],
            ignored: vec!["note".into()],
        });
        let json = serde_json::to_string(&batch).unwrap();
        assert_eq!(
            json,
            r#"{"batchItemFailures":[{"itemIdentifier":"m-1"}],"decisions":[{"decision":"not_ready","folder":"s3://b/m/","reason":"r"}],"ignored":["note"]}"#
        );
        let read: ImportAnswer = serde_json::from_str(&json).unwrap();
        assert_eq!(read, batch);
        assert_eq!(read.failed_messages().collect::<Vec<_>>(), ["m-1"]);
        let direct = ImportAnswer::Handled(Handled::default());
        assert_eq!(
            serde_json::to_string(&direct).unwrap(),
            r#"{"decisions":[]}"#
        );
        let read: ImportAnswer = serde_json::from_str(r#"{"ignored":"why"}"#).unwrap();
        assert_eq!(read, ignored);
    }
}
