//! `ferry release` and `ferry rollback`: move a model's release parameter
//! (`/ferry/<model>/live`) with the caller's hosting-account credentials and the
//! tracker's configuration. The ledger records who asked and why; the change goes on
//! the event bus like every state change.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ferry_aws::aws_tracker;
use ferry_core::release::{parameter_name, release, rollback, ReleaseError, ReleaseOutcome};
use ferry_core::track::TrackerConfig;

use crate::Format;

#[derive(clap::Args)]
pub struct ReleaseArgs {
    /// The model: its folder's name as the ledger shows it (`ferry status`)
    model: String,
    /// The version: its name, its fingerprint (or 8+ characters of it) or its model ARN
    version: String,
    /// Release a version whose smoke test failed or has not run
    #[arg(long)]
    force: bool,
    /// Why, for the ledger's history and the event
    #[arg(long, default_value = "")]
    reason: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    /// The model whose live version goes back to the one it replaced
    model: String,
    /// Why, for the ledger's history and the event
    #[arg(long, default_value = "")]
    reason: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// `ferry release MODEL VERSION`.
pub async fn run_release(args: ReleaseArgs) -> Result<ExitCode> {
    let (config, sdk) = setup().await?;
    let tracker = aws_tracker(&sdk, &config);
    let note = note("release", &sdk, &args.reason).await;
    let result = release(
        &tracker.hosting,
        &tracker.pointer,
        &args.model,
        &args.version,
        &note,
        args.force,
    )
    .await;
    report(result, &config, args.format)
}

/// `ferry rollback MODEL`.
pub async fn run_rollback(args: RollbackArgs) -> Result<ExitCode> {
    let (config, sdk) = setup().await?;
    let tracker = aws_tracker(&sdk, &config);
    let note = note("rollback", &sdk, &args.reason).await;
    let result = rollback(&tracker.hosting, &tracker.pointer, &args.model, &note).await;
    report(result, &config, args.format)
}

async fn setup() -> Result<(TrackerConfig, aws_config::SdkConfig)> {
    let config = TrackerConfig::from_env(|name| std::env::var(name).ok())
        .context("ferry release and rollback use the tracker's variables")?;
    Ok((config, ferry_aws::load_sdk_config().await))
}

/// `by ARN: reason`: who asked (the caller's identity, when STS answers) and why.
async fn note(action: &str, sdk: &aws_config::SdkConfig, reason: &str) -> String {
    let caller = caller_arn(sdk).await;
    format!("ferry {action} by {caller}: {}", reason_or_none(reason))
}

/// The caller's ARN, as STS names it, for the ledger's record of who asked.
pub(crate) async fn caller_arn(sdk: &aws_config::SdkConfig) -> String {
    ferry_aws::config::sts_client(sdk)
        .get_caller_identity()
        .send()
        .await
        .ok()
        .and_then(|out| out.arn().map(str::to_owned))
        .unwrap_or_else(|| "an unidentified caller".into())
}

/// The reason given, or a note that none was.
pub(crate) fn reason_or_none(reason: &str) -> &str {
    if reason.trim().is_empty() {
        "no reason given"
    } else {
        reason.trim()
    }
}

fn report(
    result: Result<ReleaseOutcome, ReleaseError>,
    config: &TrackerConfig,
    format: Format,
) -> Result<ExitCode> {
    let outcome = match result {
        Ok(outcome) => outcome,
        // A refusal is the operator's to fix: say what, exit 1.
        Err(e @ ReleaseError::Port(_)) => return Err(e.into()),
        Err(e) => {
            eprintln!(
                "ferry: {}",
                ferry_core::text::escape_controls(&e.to_string())
            );
            return Ok(ExitCode::from(1));
        }
    };
    let parameter = parameter_name(&config.after_import.parameter_prefix, &outcome.model);
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let mut value = serde_json::to_value(&outcome)?;
            value["parameter"] = parameter.clone().into();
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        }
        Format::Text => {
            let verb = if outcome.changed {
                "is now"
            } else {
                "was already"
            };
            writeln!(
                out,
                "{} {verb} the live version of {}",
                outcome.live, outcome.model
            )?;
            writeln!(out, "  {parameter} = {}", outcome.live_arn)?;
            match &outcome.previous {
                Some(p) => writeln!(
                    out,
                    "  previous: {p} (`ferry rollback {}` goes back to it)",
                    outcome.model
                )?,
                None => writeln!(out, "  previous: none")?,
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
