//! `ferry check --scenario FILE [--format json|text]`: the cross-account access chain,
//! judged offline from a scenario file (`../shared/specs/access-check.md`).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use ferry_core::access::{run_checks, Scenario};

use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// A scenario file: every policy of the chain (see the access-check contract)
    #[arg(long)]
    scenario: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let file = args.scenario.display().to_string();
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("{file}: cannot be read"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow!("{file}: not JSON ({e})"))?;
    let scenario = Scenario::parse(&value).map_err(|e| anyhow!("{file}: {e}"))?;
    let report = run_checks(&scenario);

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
    Ok(ExitCode::from(if report.ok { 0 } else { 1 }))
}
