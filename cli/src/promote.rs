//! `ferry promote FOLDER|MODEL --to STAGE`: imports a content into a stage now, through
//! the importer's one start path, with the importer's variables (`FERRY_STAGES` and
//! the per-stage ones). The stage's ledger and events record who asked and why.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use ferry_aws::AwsConnect;
use ferry_core::import::{promote, Cause, Connect, ImporterConfig, StageConfig};
use ferry_core::release::{find_version, model_versions};
use ferry_core::stages::Gate;
use ferry_core::S3Uri;

use crate::import::{print_decisions, stage_names};
use crate::release::{caller_arn, reason_or_none};
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// The content: its folder (s3://BUCKET/PREFIX/), or a model's name as `ferry status`
    /// shows it (its newest version verified in the stage before STAGE)
    content: String,
    /// The stage to import it into (a name of FERRY_STAGES)
    #[arg(long, value_name = "STAGE")]
    to: String,
    /// With a MODEL: the version (its name, its fingerprint or 8+ characters of it)
    #[arg(long, value_name = "VERSION")]
    version: Option<String>,
    /// Promote even if the stage before has not verified the content
    #[arg(long)]
    force: bool,
    /// Why, for the stage's ledger and its event
    #[arg(long, default_value = "")]
    reason: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let folder = args
        .content
        .starts_with("s3://")
        .then(|| args.content.clone());
    let config = ImporterConfig::from_env(|name| match (name, std::env::var(name).ok()) {
        ("FERRY_WATCH_PREFIXES", None) => folder.clone(),
        (_, value) => value,
    })
    .context("ferry promote uses the importer's variables (FERRY_STAGES and the per-stage ones)")?;
    let Some(to) = config.stage(&args.to) else {
        bail!(
            "no stage {:?} in FERRY_STAGES (the stages: {})",
            args.to,
            stage_names(&config)
        );
    };
    let connect = AwsConnect::from_env(&config).await;
    let (uri, expected) = match &folder {
        Some(folder) => (S3Uri::parse(folder)?, None),
        None => {
            let (uri, fingerprint) = resolve_model(&args, to, &connect, &config).await?;
            (uri, Some(fingerprint))
        }
    };
    let sdk = ferry_aws::load_sdk_config().await;
    let cause = Cause::Manual {
        by: caller_arn(&sdk).await,
        reason: reason_or_none(&args.reason).to_owned(),
        force: args.force,
    };
    let decision = promote(&uri, expected.as_deref(), to, &cause, &connect, &config).await?;
    print_decisions(&[decision], args.format)
}

/// A model's version in the stage before `to`: `--version`, or its newest verified one.
async fn resolve_model(
    args: &Args,
    to: &StageConfig,
    connect: &AwsConnect,
    config: &ImporterConfig,
) -> Result<(S3Uri, String)> {
    let at = config
        .stages
        .iter()
        .position(|s| s.name == to.name)
        .unwrap_or(0);
    let Some(before) = at.checked_sub(1).map(|i| &config.stages[i]) else {
        bail!(
            "{} is the first stage: promote a folder (s3://BUCKET/PREFIX/) into it",
            to.label()
        );
    };
    let hosting = connect.hosting(before, &args.content).await?;
    let versions = model_versions(&hosting.ledger, &args.content).await?;
    let verified = Gate::After {
        stage: before.label().to_owned(),
        released: false,
    };
    let item = match &args.version {
        Some(version) => find_version(&versions, &args.content, version)?,
        None => versions
            .items
            .iter()
            .rev()
            .find(|i| verified.opened_by(i))
            .with_context(|| {
                format!(
                    "{} has no verified version of {} (see ferry status); name one with --version and --force",
                    before.label(),
                    args.content
                )
            })?,
    };
    Ok((S3Uri::parse(&item.source_uri)?, item.fingerprint.clone()))
}
