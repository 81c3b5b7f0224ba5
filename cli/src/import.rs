//! `ferry import s3://BUCKET/PREFIX/`: the importer's path, run by hand (for a folder
//! uploaded before Ferry was deployed, or to retry one). Configured by the importer's
//! environment variables; `FERRY_WATCH_PREFIXES` defaults to the folder itself.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ferry_aws::AwsConnect;
use ferry_core::import::{process_folder, retry_failed_in, Decision, ImportState, ImporterConfig};
use ferry_core::S3Uri;

use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// The model folder: s3://BUCKET/PREFIX/
    source: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Put a Failed import back in the queue under a new name (after fixing the cause)
    #[arg(long)]
    retry: bool,
    /// With --retry and FERRY_STAGES: the stage whose import to retry (default: the first)
    #[arg(long, value_name = "STAGE", requires = "retry")]
    stage: Option<String>,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let uri = S3Uri::parse(&args.source)?;
    let config = ImporterConfig::from_env(|name| match (name, std::env::var(name).ok()) {
        ("FERRY_WATCH_PREFIXES", None) => Some(uri.to_string()),
        (_, value) => value,
    })?;
    let connect = AwsConnect::from_env(&config).await;
    let decisions = if args.retry {
        let stage = match &args.stage {
            Some(name) => config.stage(name).with_context(|| {
                format!(
                    "no stage {name:?} in FERRY_STAGES ({})",
                    stage_names(&config)
                )
            })?,
            None => &config.stages[0],
        };
        vec![retry_failed_in(stage, &uri, &connect, &config).await?]
    } else {
        process_folder(&uri, &connect, &config).await?
    };
    print_decisions(&decisions, args.format)
}

/// The stages' names, for messages.
pub(crate) fn stage_names(config: &ImporterConfig) -> String {
    let names: Vec<&str> = config.stages.iter().map(|s| s.label()).collect();
    names.join(", ")
}

/// Prints the decisions (one JSON object for one decision, as without stages; a list
/// for several) and exits 0 when every one imported or queued the content.
pub(crate) fn print_decisions(decisions: &[Decision], format: Format) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match (format, decisions) {
        (Format::Json, [one]) => writeln!(stdout, "{}", serde_json::to_string_pretty(one)?)?,
        (Format::Json, all) => writeln!(stdout, "{}", serde_json::to_string_pretty(all)?)?,
        (Format::Text, all) => {
            for decision in all {
                writeln!(stdout, "{}", describe(decision))?;
            }
        }
    }
    stdout.flush().context("writing the decision")?;
    let imported = decisions.iter().all(|d| {
        matches!(
            d,
            Decision::Started { .. } | Decision::Queued { .. } | Decision::Duplicate { .. }
        )
    });
    Ok(ExitCode::from(if imported && !decisions.is_empty() {
        0
    } else {
        1
    }))
}

fn describe(decision: &Decision) -> String {
    match decision.stage() {
        Some(stage) => format!("[{stage}] {}", describe_in_stage(decision)),
        None => describe_in_stage(decision),
    }
}

fn describe_in_stage(decision: &Decision) -> String {
    match decision {
        Decision::NotReady { folder, reason } => format!("{folder}: not complete yet ({reason}); nothing was recorded"),
        Decision::Duplicate { folder, fingerprint, state, .. } => {
            let hint = match state {
                ImportState::Failed => "; fix the cause and run ferry import --retry",
                ImportState::Rejected => "; fix the folder and upload the changed files (or, if the access check rejected it, fix the policies and run ferry import --retry)",
                _ => "",
            };
            format!("{folder}: already in the ledger as {} (fingerprint {fingerprint}){hint}", state.as_str())
        }
        Decision::Rejected { folder, errors, .. } => format!(
            "{folder}: rejected with {errors} error(s); the alert topic has the details (or run ferry validate {folder})"
        ),
        Decision::AccessDenied { folder, denied, .. } => format!(
            "{folder}: not started: the access check denied {}; the alert topic has each statement to add \
             (or run ferry check --source {folder} --execution-role ARN --hosting-role ARN --external-id ID); then run ferry import --retry",
            denied.join(", ")
        ),
        Decision::Queued { folder, reason, .. } => format!("{folder}: queued ({reason}); the tracker starts it when the slot frees"),
        Decision::Started { folder, job_arn, .. } => format!("{folder}: import started: {job_arn}"),
        Decision::Failed { folder, message, .. } => format!("{folder}: the import could not start: {message}"),
        Decision::NotPromoted { folder, reason, .. } => format!("{folder}: not promoted: {reason}"),
    }
}
