//! `ferry check`: the cross-account access chain (`../shared/specs/access-check.md`),
//! judged offline from a scenario file or live from both accounts' policies.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use ferry_aws::clock::now_secs;
use ferry_aws::hosting::assume_role;
use ferry_aws::{AwsPolicyReader, S3Prober};
use ferry_core::access::{
    probe, read_live, run_checks, AccessReport, LiveTarget, PolicyReader, ProbeReport, Scenario,
};
use ferry_core::S3Uri;

use crate::{Format, EXIT_UNUSABLE};

#[derive(clap::Args)]
pub struct Args {
    /// Offline: a scenario file holding every policy of the chain
    #[arg(long, required_unless_present = "source", conflicts_with_all = ["source", "probe"])]
    scenario: Option<PathBuf>,
    /// Live: the model folder in the research bucket (read with your credentials)
    #[arg(long, value_name = "S3_URI", requires = "execution_role")]
    source: Option<String>,
    /// Live: the Custom Model Import execution role in the hosting account
    #[arg(long, value_name = "ARN")]
    execution_role: Option<String>,
    /// Live: the hosting account's KMS key for the imported model
    #[arg(long, value_name = "ARN")]
    imported_model_kms_key: Option<String>,
    /// Live: a role in the hosting account to read its policies through (Ferry's
    /// automation role); also the caller judged for iam:PassRole and the job creation
    #[arg(long, value_name = "ARN", requires = "external_id")]
    hosting_role: Option<String>,
    #[arg(long, value_name = "ID", requires = "hosting_role")]
    external_id: Option<String>,
    /// Live: also assume the execution role (where its trust policy lets you), list the
    /// prefix and read the first byte of every object, and report disagreements
    #[arg(long, requires = "source")]
    probe: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let report = match &args.scenario {
        Some(path) => run_checks(&scenario_file(path)?, now_secs()),
        None => live(&args).await?,
    };

    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Text => write!(
            stdout,
            "{}",
            report.render_text(std::io::stdout().is_terminal())
        )?,
    }
    stdout.flush().context("writing the report")?;
    if !report.ok {
        return Ok(ExitCode::from(1));
    }
    if !report.complete() {
        let blocked = report
            .checks
            .iter()
            .filter(|c| c.unreadable.is_some())
            .count();
        eprintln!(
            "ferry: {blocked} check(s) could not be judged: {}",
            report.unreadable.join("; ")
        );
        return Ok(ExitCode::from(EXIT_UNUSABLE));
    }
    for note in &report.unreadable {
        eprintln!("ferry: note: {note} (no check depends on it)");
    }
    Ok(ExitCode::SUCCESS)
}

fn scenario_file(path: &PathBuf) -> Result<Scenario> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("{file}: cannot be read"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow!("{file}: not JSON ({e})"))?;
    Scenario::parse(&value).map_err(|e| anyhow!("{file}: {e}"))
}

/// Checks an ARN flag's shape before any call is made.
fn arn_flag(value: &str, flag: &str, service: &str, resource: &str) -> Result<()> {
    if ferry_core::aws_names::arn::account_of(value, service, resource).is_none() {
        bail!(
            "{flag}: {value:?} is not an ARN of the form arn:aws:{service}::ACCOUNT:{resource}..."
        );
    }
    Ok(())
}

async fn live(args: &Args) -> Result<AccessReport> {
    let source = args.source.as_deref().unwrap_or_default();
    let source = S3Uri::parse(source).map_err(|e| anyhow!("--source: {e}"))?;
    let execution_role = args.execution_role.clone().unwrap_or_default();
    arn_flag(&execution_role, "--execution-role", "iam", "role/")?;
    if let Some(key) = &args.imported_model_kms_key {
        arn_flag(key, "--imported-model-kms-key", "kms", "key/")?;
    }
    if let Some(role) = &args.hosting_role {
        arn_flag(role, "--hosting-role", "iam", "role/")?;
    }

    let base = ferry_aws::load_sdk_config().await;
    let region = base
        .region()
        .map(|r| r.as_ref().to_owned())
        .ok_or_else(|| {
            anyhow!(
                "no AWS region: set AWS_REGION (the region of the import) or a profile's region"
            )
        })?;
    let sts = ferry_aws::config::sts_client(&base);
    let hosting_config = match (&args.hosting_role, &args.external_id) {
        (Some(role), Some(external_id)) => {
            assume_role(&base, &sts, role, Some(external_id), "ferry-check", None)
                .await
                .map_err(|e| anyhow!("--hosting-role: {e}"))?
                .0
        }
        _ => base.clone(),
    };
    let research = AwsPolicyReader::new(&base);
    let hosting = AwsPolicyReader::new(&hosting_config);
    let target = LiveTarget {
        source,
        region,
        execution_role: execution_role.clone(),
        imported_model_key: args.imported_model_kms_key.clone(),
        caller_role: args.hosting_role.clone(),
    };
    let scenario = read_live(&research, &hosting, &target, None).await?;
    let mut report = run_checks(&scenario, now_secs());
    if args.probe {
        report.probe = Some(run_probe(&report, &scenario, &hosting_config, &hosting).await);
    }
    Ok(report)
}

/// The seed's troubleshooting: assume the execution role and really read.
async fn run_probe(
    report: &AccessReport,
    scenario: &Scenario,
    hosting_config: &aws_config::SdkConfig,
    hosting: &AwsPolicyReader,
) -> ProbeReport {
    let role = &scenario.execution_role.arn;
    let sts = ferry_aws::config::sts_client(hosting_config);
    match assume_role(hosting_config, &sts, role, None, "ferry-probe", None).await {
        Ok((as_role, _)) => probe(report, scenario, &S3Prober::new(&as_role)).await,
        Err(err) => {
            let me = hosting
                .caller_arn()
                .await
                .unwrap_or_else(|_| "YOUR-ROLE-ARN".into());
            let statement = serde_json::json!({
                "Sid": "FerryProbeTemporary",
                "Effect": "Allow",
                "Principal": {"AWS": me},
                "Action": "sts:AssumeRole"
            });
            let why = if err.kind == ferry_core::import::PortErrorKind::Denied {
                format!(
                    "{err}. Its trust policy lets only Bedrock assume it, as it should. To probe, add this \
                     statement to the trust policy for the duration of the test, then remove it: {statement}"
                )
            } else {
                err.to_string()
            };
            ProbeReport::not_run(role, why)
        }
    }
}
