//! Alert messages for people: a one-line subject; a body that says which model, what
//! happened and what to do; then a JSON block for machines.

use serde_json::json;

use super::ledger::{ImportState, LedgerItem};
use super::ports::Alert;
use crate::track::after_import::Prices;
use crate::validate::report::{Report, Severity};

const MAX_SUBJECT: usize = 100;
/// Lines of a rejection kept in the ledger and the alert: DynamoDB items stop at
/// 400 KB and SNS messages at 256 KB, and a person reads the first few anyway.
const MAX_SUMMARY_LINES: usize = 40;
const MAX_LINE_CHARS: usize = 500;
/// What the alert body may hold of a failure text.
const MAX_FAILURE_CHARS: usize = 32 * 1024;

/// The summary of a rejected report that the ledger keeps as the failure text:
/// one line per error, then warnings, at most [`MAX_SUMMARY_LINES`].
pub(crate) fn rejection_summary(report: &Report) -> String {
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
            let line = format!("{mark} {}{file}: {}", f.code.as_str(), f.message);
            lines.push(line.chars().take(MAX_LINE_CHARS).collect());
        }
    }
    let total = lines.len();
    if total > MAX_SUMMARY_LINES {
        lines.truncate(MAX_SUMMARY_LINES);
        lines.push(format!(
            "... and {} more finding(s): run ferry validate on the folder for all of them",
            total - MAX_SUMMARY_LINES
        ));
    }
    lines.join("\n")
}

/// How the failure text of an import the access check rejected begins.
const ACCESS_HEADER: &str = "access check: ";

/// The failure text of an import the access check rejected: a header line, then the
/// access report as a person reads it (each denial with the statement to add).
pub(crate) fn access_failure(report: &crate::access::AccessReport) -> String {
    let mut denied: Vec<&str> = report.denied().map(|c| c.id).collect();
    let requests = denied.len();
    denied.dedup();
    let text: String = report
        .render_text(false)
        .chars()
        .take(MAX_FAILURE_CHARS - 200)
        .collect();
    format!(
        "{ACCESS_HEADER}{} of {} request(s) denied ({})\n\n{text}",
        requests,
        report.checks.len(),
        denied.join(", ")
    )
}

/// Whether a Rejected item was rejected by the access check (not by validation).
pub(crate) fn is_access_failure(failure: Option<&str>) -> bool {
    failure.is_some_and(|f| f.starts_with(ACCESS_HEADER))
}

/// What to do after a failure: ask for the retry, since the same content is not
/// imported again on its own.
const RETRY: &str =
    "run `ferry import --retry` on the folder: the same content is not imported again on its own.";

/// An alert's three parts: the subject, what happened, what to do.
struct AlertText {
    subject: String,
    what: String,
    todo: String,
}

/// The alert for a Rejected or Failed item, or a Pending one that is blocked; `None`
/// otherwise.
pub(crate) fn alert_for(item: &LedgerItem, prices: &Prices) -> Option<Alert> {
    let failure: String = item
        .failure
        .as_deref()
        .unwrap_or("no details were recorded")
        .chars()
        .take(MAX_FAILURE_CHARS)
        .collect();
    let failure = failure.as_str();
    let text = match item.state {
        ImportState::Rejected if is_access_failure(item.failure.as_deref()) => {
            access_denied(item, failure)
        }
        ImportState::Rejected => rejected(item, failure),
        ImportState::Failed => failed(item, failure),
        ImportState::Pending if item.failure.as_deref().is_some_and(|f| !f.is_empty()) => {
            waiting(item, failure)
        }
        ImportState::Completed => completed(item, prices),
        ImportState::SmokeFailed => smoke_failed(item, failure, prices),
        // Asked for a Submitted item only when its job runs longer than the bound.
        ImportState::Submitted => taking_long(item),
        ImportState::Deleted => deleted(item, failure),
        ImportState::Foreign => foreign(item),
        _ => return None,
    };
    // The stage's topic may serve several stages' people: the subject says which.
    let subject = match &item.stage {
        Some(stage) => text
            .subject
            .replacen("Ferry:", &format!("Ferry [{stage}]:"), 1),
        None => text.subject,
    };
    let what = match &item.stage {
        Some(stage) => format!("Stage {stage}. {}", text.what),
        None => text.what,
    };
    Some(Alert {
        subject: one_line(&subject),
        body: format!(
            "{}\n\nWhat to do: {}\n\n--- details (JSON) ---\n{}\n",
            what,
            text.todo,
            details(item)
        ),
    })
}

/// The alert's JSON block, for machines.
fn details(item: &LedgerItem) -> String {
    let mut details = json!({
        "event": item.state.as_str(),
        "fingerprint": item.fingerprint,
        "source": item.source_uri,
        "model": item.slug,
        "name": item.name,
        "job_arn": item.job_arn,
        "model_arn": item.model_arn,
        "attempts": item.attempts,
        "created_at": crate::text::time::rfc3339(item.created_at),
    });
    if let Some(stage) = &item.stage {
        details["stage"] = json!(stage);
    }
    serde_json::to_string_pretty(&details).unwrap_or_else(|_| details.to_string())
}

fn access_denied(item: &LedgerItem, failure: &str) -> AlertText {
    AlertText {
        subject: format!("Ferry: {} not imported: the access check denied it", item.slug),
        what: format!(
            "Ferry did not start the import of {} because the cross-account access check denied it; \
             Amazon Bedrock would fail with \"does not have access to the S3 location\":\n\n{}",
            item.source_uri,
            indent(failure)
        ),
        todo: format!(
            "Add each statement above to the policy it names (`ferry check --source {} --execution-role ARN --hosting-role ARN --external-id ID` \
             shows the chain again), then {RETRY}",
            item.source_uri
        ),
    }
}

fn rejected(item: &LedgerItem, failure: &str) -> AlertText {
    let errors = failure.lines().filter(|l| l.starts_with("error ")).count();
    AlertText {
        subject: format!("Ferry: {} rejected, {errors} error(s); not imported", item.slug),
        what: format!(
            "Ferry did not import {} because Amazon Bedrock Custom Model Import would refuse it:\n\n{}",
            item.source_uri,
            indent(failure)
        ),
        todo: "Fix the folder and upload the changed files: new content gets a new fingerprint and Ferry \
               imports it. To judge a folder before uploading it, run `ferry validate DIR`."
            .to_owned(),
    }
}

fn failed(item: &LedgerItem, failure: &str) -> AlertText {
    let todo = if failure.contains("does not have access to the S3 location")
        || failure.contains("AccessDenied")
    {
        format!(
            "Bedrock could not read the weights with the execution role, or the caller may not start \
             the job: check the bucket policy, the execution role's identity and trust policies, the KMS \
             key policies of both accounts and iam:PassRole. Then {RETRY}"
        )
    } else {
        format!("Correct the cause above, then {RETRY}")
    };
    AlertText {
        subject: format!("Ferry: import of {} failed", item.slug),
        what: format!(
            "The import of {} ({}) failed:\n\n{}",
            item.source_uri,
            item.name,
            indent(failure)
        ),
        todo,
    }
}

fn waiting(item: &LedgerItem, failure: &str) -> AlertText {
    AlertText {
        subject: format!("Ferry: import of {} is waiting", item.slug),
        what: format!(
            "The import of {} ({}) cannot start yet:\n\n{}",
            item.source_uri,
            item.name,
            indent(failure)
        ),
        todo: "Free the limit named above; the queued import starts by itself afterwards."
            .to_owned(),
    }
}

fn completed(item: &LedgerItem, prices: &Prices) -> AlertText {
    AlertText {
        subject: format!("Ferry: {} imported", item.slug),
        what: format!(
            "{} was imported into Amazon Bedrock as {} ({}{}).\n\nCost (estimate): {}.",
            item.source_uri,
            item.name,
            item.model_arn
                .as_deref()
                .unwrap_or("model ARN not reported"),
            match (&item.architecture, item.custom_model_units) {
                (Some(a), Some(u)) => format!("; {a}, {u} custom model unit(s)"),
                (Some(a), None) => format!("; {a}"),
                _ => String::new(),
            },
            prices.describe(item.custom_model_units)
        ),
        todo: "Nothing. Ferry smoke-tests it next (unless FERRY_SMOKE_TEST=off) and, with FERRY_RELEASE=auto, \
               makes it the live version of its model; invoke it with its model ARN or read \
               the model's release parameter."
            .to_owned(),
    }
}

fn smoke_failed(item: &LedgerItem, failure: &str, prices: &Prices) -> AlertText {
    AlertText {
        subject: format!("Ferry: {} imported but failed its smoke test; not released", item.slug),
        what: format!(
            "{} was imported as {} ({}), but it did not answer Ferry's smoke test, so it was not released:\n\n{}\n\nCost (estimate): {}.",
            item.source_uri,
            item.name,
            item.model_arn.as_deref().unwrap_or("model ARN not reported"),
            indent(failure),
            prices.describe(item.custom_model_units)
        ),
        todo: format!(
            "Follow \"What to do\" above. The model stays imported (and billed for storage) until cleanup or \
             you delete it; `ferry release {} {} --force` releases it anyway.",
            item.slug, item.name
        ),
    }
}

fn taking_long(item: &LedgerItem) -> AlertText {
    AlertText {
        subject: format!("Ferry: import of {} is taking long", item.slug),
        what: format!(
            "The import job of {} ({}) has been running since {}, longer than FERRY_MAX_JOB_HOURS.",
            item.source_uri,
            item.job_arn.as_deref().unwrap_or(&item.name),
            crate::text::time::rfc3339(item.submitted_at.unwrap_or(item.created_at))
        ),
        todo: "Check the job in the Bedrock console (Imported models > Jobs); Ferry keeps following it and alerts \
               when it ends."
            .to_owned(),
    }
}

fn deleted(item: &LedgerItem, failure: &str) -> AlertText {
    AlertText {
        subject: format!("Ferry: deleted idle model {}", item.name),
        what: format!(
            "Ferry's cleanup deleted the imported model {} ({}):\n\n{}",
            item.name,
            item.model_arn.as_deref().unwrap_or(""),
            indent(failure)
        ),
        todo: "Nothing. Its weights are still in S3; import them again with `ferry import --retry` on the folder \
               if it is needed. Tag a model ferry:protect=true to keep it."
            .to_owned(),
    }
}

fn foreign(item: &LedgerItem) -> AlertText {
    AlertText {
        subject: "Ferry: a job Ferry did not start holds the import slot".to_owned(),
        what: format!(
            "The import job {} ({}) was not started by Ferry. AWS runs one import job per account at a time, \
             so queued imports wait until it ends.",
            item.name,
            item.job_arn.as_deref().unwrap_or("")
        ),
        todo: "Nothing, unless the job is stuck; Ferry leaves it alone and starts the queue when it ends."
            .to_owned(),
    }
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
    fn alert_for_item(item: &LedgerItem) -> Option<Alert> {
        alert_for(item, &Prices::default())
    }
    use super::*;

    fn item(state: ImportState, failure: &str) -> LedgerItem {
        LedgerItem {
            failure: Some(failure.into()),
            attempts: 1,
            ..LedgerItem::new(
                "f".repeat(64),
                state,
                "s3://research/fine-tunes/llama/",
                "llama",
                "llama-20261122-ffffffff",
                1_795_000_000,
            )
        }
    }

    #[test]
    fn rejected_and_failed_alerts_are_actionable_with_json_details() {
        let rejected = alert_for_item(&item(
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

        let failed = alert_for_item(&item(
            ImportState::Failed,
            "Amazon Bedrock does not have access to the S3 location (s3://x)",
        ))
        .unwrap();
        assert!(failed.body.contains("bucket policy"), "{}", failed.body);
        let mut waiting = item(ImportState::Pending, "");
        waiting.failure = None;
        assert!(
            alert_for(&waiting, &Prices::default()).is_none(),
            "a Pending item alerts only when it is blocked"
        );
    }

    #[test]
    fn long_rejections_are_capped() {
        let findings = (0..500)
            .map(|i| {
                crate::validate::report::Finding::new(
                    crate::validate::report::Code::UnexpectedFile,
                    Some("x"),
                    "y".repeat(2000 + i),
                )
            })
            .collect();
        let report = Report {
            ok: true,
            source: "s".into(),
            architecture: None,
            model_type: None,
            files: 0,
            total_bytes: 0,
            bytes_read: 0,
            findings,
            family: None,
            multimodal: false,
            context_length: None,
            weight_files: 0,
        };
        let summary = rejection_summary(&report);
        assert_eq!(summary.lines().count(), 41);
        assert!(summary.len() < 25_000);
        assert!(summary.ends_with("run ferry validate on the folder for all of them"));
    }

    #[test]
    fn subjects_stay_one_short_line() {
        let mut long = item(ImportState::Failed, "x");
        long.slug = format!("a\nb{}", "x".repeat(200));
        let subject = alert_for(&long, &Prices::default()).unwrap().subject;
        assert_eq!(subject.len(), 100);
        assert!(!subject.contains('\n'));
    }
}
