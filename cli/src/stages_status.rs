//! `ferry status --stages`: each content across the stages, a column per stage (state,
//! version, live), read through each stage's automation role with the importer's
//! variables.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ferry_aws::AwsConnect;
use ferry_core::import::{Connect, ImporterConfig};
use ferry_core::stages::{across_stages, ContentRow};
use futures_util::future::try_join_all;

use crate::Format;

pub async fn run(format: Format) -> Result<ExitCode> {
    let config = ImporterConfig::from_env(|name| match (name, std::env::var(name).ok()) {
        // Not read here: status needs the stages, not the watched folders.
        ("FERRY_WATCH_PREFIXES", None) => Some("s3://unused/".into()),
        (_, value) => value,
    })
    .context(
        "ferry status --stages uses the importer's variables (FERRY_STAGES and the per-stage ones)",
    )?;
    let connect = AwsConnect::from_env(&config).await;
    let ledgers = try_join_all(config.stages.iter().map(|stage| async {
        let hosting = connect.hosting(stage, "ferry-status").await?;
        let table = format!("{} ({})", stage.ledger_table, stage.label());
        crate::track::ledger_items(&hosting.ledger, &table).await
    }))
    .await?;
    let rows = across_stages(&ledgers);
    let names: Vec<&str> = config.stages.iter().map(|s| s.label()).collect();
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"stages": names, "contents": rows}))?
        )?,
        Format::Text => write_text(&mut out, &names, &rows)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One line per content: model, content, then each stage's state and version.
fn write_text(out: &mut impl Write, stages: &[&str], rows: &[ContentRow]) -> Result<()> {
    let cell_width = 34;
    write!(out, "{:<24} {:<9}", "MODEL", "CONTENT")?;
    for stage in stages {
        write!(out, " {:<cell_width$}", stage.to_uppercase())?;
    }
    writeln!(out)?;
    if rows.is_empty() {
        writeln!(out, "(no imports in any stage)")?;
    }
    for row in rows {
        let model = ferry_core::text::display(&row.model);
        write!(
            out,
            "{:<24} {:<9}",
            ferry_core::text::truncate(&model, 24),
            row.fingerprint.chars().take(8).collect::<String>()
        )?;
        for cell in &row.stages {
            let text = match cell {
                None => "-".to_owned(),
                Some(c) => format!(
                    "{}{} {}",
                    c.state.as_str(),
                    if c.live { " (live)" } else { "" },
                    // The version without the model's name: its date and hash.
                    c.version
                        .strip_prefix(&format!("{}-", row.model))
                        .unwrap_or(&c.version)
                ),
            };
            write!(
                out,
                " {:<cell_width$}",
                ferry_core::text::truncate(&text, cell_width)
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}
