//! `ferry import s3://BUCKET/PREFIX/`: the importer's path, run by hand (for a folder
//! uploaded before Ferry was deployed, or to retry one). Configured by the importer's
//! environment variables; `FERRY_WATCH_PREFIXES` defaults to the folder itself.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ferry_aws::AwsConnect;
use ferry_core::import::{process_folder, retry_failed, Decision, ImportState, ImporterConfig};
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
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let uri = S3Uri::parse(&args.source)?;
    let config = ImporterConfig::from_env(|name| match (name, std::env::var(name).ok()) {
        ("FERRY_WATCH_PREFIXES", None) => Some(uri.to_string()),
        (_, value) => value,
    })?;
    let connect = AwsConnect::from_env(&config).await;
    let decision = if args.retry {
        retry_failed(&uri, &connect, &config).await?
    } else {
        process_folder(&uri, &connect, &config).await?
    };

    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&decision)?)?,
        Format::Text => writeln!(stdout, "{}", describe(&decision))?,
    }
    stdout.flush().context("writing the decision")?;
    let imported = matches!(
        decision,
        Decision::Started { .. } | Decision::Queued { .. } | Decision::Duplicate { .. }
    );
    Ok(ExitCode::from(if imported { 0 } else { 1 }))
}

fn describe(decision: &Decision) -> String {
    match decision {
        Decision::NotReady { folder, reason } => format!("{folder}: not complete yet ({reason}); nothing was recorded"),
        Decision::Duplicate { folder, fingerprint, state } => {
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
    }
}
