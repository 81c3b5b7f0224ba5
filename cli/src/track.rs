//! `ferry status` and `ferry cleanup`: the hosting account's view, with the tracker's
//! configuration (`FERRY_*`) and the caller's hosting-account credentials.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ferry_aws::{aws_tracker, BedrockImports, CloudWatchUsage, DynamoLedger};
use ferry_core::import::ledger::ALL_STATES;
use ferry_core::import::{ImportState, JobInfo, JobStatus, Ledger, LedgerItem};
use ferry_core::track::after_import::AfterImport;
use ferry_core::track::TrackerConfig;
use serde_json::json;

use crate::Format;

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The ledger table (default: FERRY_LEDGER_TABLE)
    #[arg(long, env = "FERRY_LEDGER_TABLE", required_unless_present = "stages")]
    ledger_table: Option<String>,
    /// Each content across the stages, a column per stage: reads every stage's ledger
    /// through its automation role, with the importer's variables (FERRY_STAGES...)
    #[arg(long)]
    stages: bool,
    /// How many of the account's latest import jobs to show
    #[arg(long, default_value_t = 10)]
    jobs: i32,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args)]
pub struct CleanupArgs {
    /// Plan only, delete nothing (the default)
    #[arg(long, conflicts_with = "apply")]
    dry_run: bool,
    /// Delete the models the plan marks, record and announce each deletion
    #[arg(long)]
    apply: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn age(now: u64, then: u64) -> String {
    let secs = now.saturating_sub(then);
    match secs {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn first_line(text: Option<&str>, max: usize) -> String {
    let line = text.unwrap_or("").lines().next().unwrap_or("");
    ferry_core::text::truncate(line, max).into_owned()
}

/// `ferry status`: the ledger's items and the account's latest import jobs.
pub async fn status(args: StatusArgs) -> Result<ExitCode> {
    let table = match (&args.ledger_table, args.stages) {
        (_, true) => return crate::stages_status::run(args.format).await,
        (Some(table), false) if table.contains(',') => anyhow::bail!(
            "FERRY_LEDGER_TABLE lists one table per stage: use ferry status --stages (or --ledger-table NAME)"
        ),
        (Some(table), false) => table.clone(),
        (None, false) => anyhow::bail!("--ledger-table (or FERRY_LEDGER_TABLE) is required"),
    };
    let sdk = ferry_aws::load_sdk_config().await;
    let ledger = DynamoLedger::new(ferry_aws::config::dynamodb_client(&sdk), &table);
    let bedrock = BedrockImports::new(ferry_aws::config::bedrock_client(&sdk));
    let items = ledger_items(&ledger, &table).await?;
    // The ledger is worth showing even when Bedrock cannot be asked.
    let (jobs, jobs_error) = match bedrock.recent_jobs(args.jobs.clamp(1, 1000)).await {
        Ok(jobs) => (jobs, None),
        Err(e) => (
            Vec::new(),
            Some(format!("could not list the account's import jobs: {e}")),
        ),
    };
    let now = ferry_aws::clock::now_secs();
    let after = AfterImport::from_env(|name| std::env::var(name).ok())?;
    let usage = CloudWatchUsage::new(ferry_aws::config::cloudwatch_client(&sdk));
    let models = crate::models::model_rows(&items, &usage, &after, now).await;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => write_status_json(&mut out, &items, &models, &jobs, jobs_error.as_deref())?,
        Format::Text => {
            crate::models::write_models_text(&mut out, &models)?;
            write_ledger_text(&mut out, now, &items)?;
            write_jobs_text(&mut out, now, &items, &jobs, jobs_error.as_deref())?;
        }
    }
    out.flush()?;
    Ok(ExitCode::from(if jobs_error.is_some() {
        crate::EXIT_UNUSABLE
    } else {
        0
    }))
}

/// Every item of the ledger, newest first.
pub(crate) async fn ledger_items(ledger: &impl Ledger, table: &str) -> Result<Vec<LedgerItem>> {
    let mut items: Vec<LedgerItem> = Vec::new();
    for state in ALL_STATES {
        items.extend(
            ledger
                .items_in_state(state)
                .await
                .with_context(|| format!("reading the ledger {table}"))?,
        );
    }
    items.sort_by_key(|i| std::cmp::Reverse(i.created_at));
    Ok(items)
}

/// Whether Ferry started the job: a ledger item (not a foreign one) names it.
fn started_by_ferry(items: &[LedgerItem], job: &JobInfo) -> bool {
    items
        .iter()
        .any(|i| i.state != ImportState::Foreign && i.job_arn.as_deref() == Some(&job.job_arn))
}

fn write_status_json(
    out: &mut impl Write,
    items: &[LedgerItem],
    models: &[crate::models::ModelRow],
    jobs: &[(JobInfo, u64)],
    jobs_error: Option<&str>,
) -> Result<()> {
    let jobs: Vec<_> = jobs
        .iter()
        .map(|(job, created)| {
            json!({
                "job_name": job.job_name, "job_arn": job.job_arn, "status": job.status,
                "imported_model_arn": job.imported_model_arn,
                "created_at": ferry_core::text::time::rfc3339(*created),
                "ferry": started_by_ferry(items, job),
            })
        })
        .collect();
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(
            &json!({"models": models, "items": items, "jobs": jobs, "jobs_error": jobs_error})
        )?
    )?;
    Ok(())
}

fn write_ledger_text(out: &mut impl Write, now: u64, items: &[LedgerItem]) -> Result<()> {
    writeln!(
        out,
        "{:<28} {:<10} {:>5}  {:<32} failure",
        "model", "state", "age", "job"
    )?;
    for i in items {
        writeln!(
            out,
            "{:<28} {:<10} {:>5}  {:<32} {}",
            first_line(Some(&i.slug), 28),
            i.state.as_str(),
            age(now, i.created_at),
            first_line(Some(&i.name), 32),
            first_line(i.failure.as_deref(), 60)
        )?;
    }
    if items.is_empty() {
        writeln!(out, "(the ledger is empty)")?;
    }
    Ok(())
}

fn write_jobs_text(
    out: &mut impl Write,
    now: u64,
    items: &[LedgerItem],
    jobs: &[(JobInfo, u64)],
    jobs_error: Option<&str>,
) -> Result<()> {
    writeln!(out, "\nlatest import jobs of the account:")?;
    for (job, created) in jobs {
        let status = match job.status {
            JobStatus::InProgress => "InProgress",
            JobStatus::Completed => "Completed",
            JobStatus::Failed => "Failed",
        };
        writeln!(
            out,
            "  {:<40} {:<10} {:>5}{}",
            job.job_name,
            status,
            age(now, *created),
            if started_by_ferry(items, job) {
                ""
            } else {
                "  (not started by Ferry)"
            }
        )?;
    }
    match jobs_error {
        Some(e) => writeln!(out, "  {e}")?,
        None if jobs.is_empty() => writeln!(out, "  (none)")?,
        None => {}
    }
    Ok(())
}

pub async fn cleanup(args: CleanupArgs) -> Result<ExitCode> {
    let config = TrackerConfig::from_env(|name| std::env::var(name).ok())?;
    let sdk = ferry_aws::load_sdk_config().await;
    let tracker = aws_tracker(&sdk, &config);
    let dry_run = !args.apply;
    let now = ferry_aws::clock::now_secs();
    let report = ferry_core::track::cleanup(&tracker, &config.cleanup, dry_run, now).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Text => {
            for e in &report.plan {
                let action = match (e.delete, dry_run) {
                    (true, true) => "would delete",
                    (true, false) if report.deleted.contains(&e.arn) => "deleted",
                    (true, false) => "NOT deleted",
                    (false, _) => "keep",
                };
                writeln!(
                    out,
                    "{action:<12} {:<40} {:>4}d  {}",
                    e.name, e.age_days, e.reason
                )?;
            }
            if report.plan.is_empty() {
                writeln!(out, "(no imported models)")?;
            }
            if dry_run {
                writeln!(
                    out,
                    "\ndry run: nothing was deleted; run with --apply to delete"
                )?;
            }
            for err in &report.errors {
                writeln!(out, "error: {err}")?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::from(if report.errors.is_empty() { 0 } else { 1 }))
}
