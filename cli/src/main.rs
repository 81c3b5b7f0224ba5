//! `ferry`: the operator's command line. Parsing and output only; the work is done in
//! `ferry-core` and `ferry-aws`.

mod check;
mod demo;
mod import;
mod models;
mod policies;
mod promote;
mod release;
mod stages_status;
mod track;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Move models from a research AWS account into Amazon Bedrock Custom Model Import"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Judge a model folder (local or s3://) as Bedrock Custom Model Import would,
    /// from config files and safetensors headers only.
    Validate(validate::Args),
    /// Run the importer's path on one S3 folder by hand: validate, record in the
    /// ledger, start the import (or queue it). Uses the importer's FERRY_* variables.
    Import(import::Args),
    /// Import a content into a stage now (FERRY_STAGES): a folder, or a model's version
    /// verified in the stage before; the stage's ledger records who asked and why.
    Promote(promote::Args),
    /// Decide, before any job runs, whether Bedrock can read the research account's
    /// weights and the caller can start the import: every policy of the cross-account
    /// chain, evaluated as AWS does, with the statement to add for each denial.
    Check(check::Args),
    /// The whole pipeline on this machine, no AWS account: both accounts in moto (the
    /// stacks from infra/), the Bedrock emulator, the real function binaries; a timeline
    /// from upload to cleanup plan, then a broken chain explained. Run scripts/demo.
    Demo(demo::Args),
    /// Print every policy of the import chain (seed procedure) filled in for your
    /// accounts, bucket and keys; or the deny-inference policy; or the fine-tuning role.
    Policies(Box<policies::Args>),
    /// The ledger's imports and the account's latest import jobs (hosting account).
    Status(track::StatusArgs),
    /// Plan (default) or apply the removal of idle imported models, by the tracker's
    /// rules (FERRY_CLEANUP_*); S3 artifacts are never touched.
    Cleanup(track::CleanupArgs),
    /// Make a version the live one of its model: its model ARN goes into the release
    /// parameter (/ferry/MODEL/live) applications read. Uses the tracker's FERRY_* variables.
    Release(release::ReleaseArgs),
    /// Put the model's live version back to the one it replaced (which must still be
    /// imported).
    Rollback(release::RollbackArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Exit statuses of the contract: 0 fine, 1 findings of severity error, 2 unusable input.
pub const EXIT_UNUSABLE: u8 = 2;

fn main() -> ExitCode {
    ferry_aws::memory::return_large_frees_to_the_system();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ferry: could not start the async runtime: {err}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Validate(args) => validate::run(args).await,
            Command::Import(args) => import::run(args).await,
            Command::Promote(args) => promote::run(args).await,
            Command::Check(args) => check::run(args).await,
            Command::Policies(args) => policies::run(*args),
            Command::Demo(args) => demo::run(args).await,
            Command::Status(args) => track::status(args).await,
            Command::Cleanup(args) => track::cleanup(args).await,
            Command::Release(args) => release::run_release(args).await,
            Command::Rollback(args) => release::run_rollback(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            // Errors echo paths, keys and names from outside: escaped, as every line
            // printed for a person.
            let message = format!("{err:#}");
            eprintln!(
                "ferry: {}",
                ferry_core::text::escape_controls(&ferry_core::text::truncate(&message, 2_000))
            );
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}
