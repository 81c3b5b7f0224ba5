//! Alert messages for people: a one-line subject; a body that says which model, what
//! happened and what to do; then a JSON block for machines.

use serde_json::json;

use super::ledger::{ImportState, LedgerItem};
use super::ports::Alert;
use crate::report::{Report, Severity};

const MAX_SUBJECT: usize = 100;

/// The summary of a rejected report that the ledger keeps as the failure text:
/// one line per error, then warnings.
pub fn rejection_summary(report: &Report) -> String {
    let mut lines: Vec<String> = Vec::new();
    for severity in [Severity::Error, Severity::Warning] {
        for f in report.findings.iter().filter(|f| f.severity == severity) {
            let file = f
                .file
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            let mark = if severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            lines.push(format!("{mark} {}{file}: {}", f.code.as_str(), f.message));
        }
    }
    lines.join("\n")
}

/// The alert for a Rejected or Failed item; `None` for other states.
pub fn alert_for(item: &LedgerItem) -> Option<Alert> {
    let failure = item
        .failure
        .as_deref()
        .unwrap_or("no details were recorded");
    let (subject, what, todo) = match item.state {
        ImportState::Rejected => {
            let errors = failure.lines().filter(|l| l.starts_with("error ")).count();
            (
                format!("Ferry: {} rejected, {errors} error(s); not imported", item.slug),
                format!(
                    "Ferry did not import {} because Amazon Bedrock Custom Model Import would refuse it:\n\n{}",
                    item.source_uri,
                    indent(failure)
                ),
                "Fix the folder and upload the changed files: new content gets a new fingerprint and Ferry \
                 imports it. To judge a folder before uploading it, run `ferry validate DIR`.",
            )
        }
        ImportState::Failed => (
            format!("Ferry: import of {} failed", item.slug),
            format!(
                "The import of {} ({}) failed:\n\n{}",
                item.source_uri,
                item.name,
                indent(failure)
            ),
            if failure.contains("does not have access to the S3 location")
                || failure.contains("AccessDenied")
            {
                "Bedrock could not read the weights with the execution role: check the bucket policy, the \
                 execution role's identity policy and trust policy, and the KMS key policies of both accounts. \
                 Then upload the folder again or run `ferry import` on it."
            } else {
                "Correct the cause above, then run `ferry import` on the folder (or upload it again)."
            },
        ),
        _ => return None,
    };
    let details = json!({
        "event": item.state.as_str(),
        "fingerprint": item.fingerprint,
        "source": item.source_uri,
        "model": item.slug,
        "name": item.name,
        "job_arn": item.job_arn,
        "failure": item.failure,
        "attempts": item.attempts,
        "created_at": crate::time::rfc3339(item.created_at),
    });
    let details = serde_json::to_string_pretty(&details).unwrap_or_else(|_| details.to_string());
    Some(Alert {
        subject: one_line(&subject),
        body: format!("{what}\n\nWhat to do: {todo}\n\n--- details (JSON) ---\n{details}\n"),
    })
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// SNS subjects: one line of printable ASCII, at most 100 characters.
fn one_line(subject: &str) -> String {
    let clean: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .collect();
    if clean.len() <= MAX_SUBJECT {
        clean
    } else {
        format!("{}...", &clean[..MAX_SUBJECT - 3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(state: ImportState, failure: &str) -> LedgerItem {
        LedgerItem {
            fingerprint: "f".repeat(64),
            state,
            source_uri: "s3://research/fine-tunes/llama/".into(),
            slug: "llama".into(),
            name: "llama-20261122-ffffffff".into(),
            created_at: 1_795_000_000,
            updated_at: 1_795_000_000,
            submitted_at: None,
            finished_at: None,
            job_arn: None,
            model_arn: None,
            failure: Some(failure.into()),
            attempts: 1,
            alerted: false,
            lease_until: None,
        }
    }

    #[test]
    fn rejected_and_failed_alerts_are_actionable_with_json_details() {
        let rejected = alert_for(&item(
            ImportState::Rejected,
            "error incomplete-shards (index): x\nwarning unusual-dtype: y",
        ))
        .unwrap();
        assert_eq!(
            rejected.subject,
            "Ferry: llama rejected, 1 error(s); not imported"
        );
        assert!(rejected.body.contains("ferry validate DIR"));
        let json_start = rejected.body.find("--- details (JSON) ---\n").unwrap() + 23;
        let details: serde_json::Value =
            serde_json::from_str(&rejected.body[json_start..]).unwrap();
        assert_eq!(details["event"], "Rejected");

        let failed = alert_for(&item(
            ImportState::Failed,
            "Amazon Bedrock does not have access to the S3 location (s3://x)",
        ))
        .unwrap();
        assert!(failed.body.contains("bucket policy"), "{}", failed.body);
        assert!(alert_for(&item(ImportState::Pending, "")).is_none());
    }

    #[test]
    fn subjects_stay_one_short_line() {
        let mut long = item(ImportState::Failed, "x");
        long.slug = format!("a\nb{}", "x".repeat(200));
        let subject = alert_for(&long).unwrap().subject;
        assert_eq!(subject.len(), 100);
        assert!(!subject.contains('\n'));
    }
}
