//! `ferry validate DIR|s3://BUCKET/PREFIX/ [--format text|json]`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use ferry_core::{validate, FolderSource, LocalFolder, Report, S3Uri, ValidateOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// A local model folder, or s3://BUCKET/PREFIX/
    source: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Weight-file headers read at once
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// The region the import would run in: also judges region-limited families (GPT-OSS)
    #[arg(long)]
    region: Option<String>,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let report = if args.source.starts_with("s3://") {
        let uri = S3Uri::parse(&args.source)?;
        let config = ferry_aws::load_sdk_config().await;
        let folder = ferry_aws::S3Folder::new(ferry_aws::s3_client(&config), uri);
        judge(&folder, args.concurrency, args.region.clone()).await?
    } else if let Some((scheme, _)) = args.source.split_once("://") {
        bail!(
            "{:?} is a {scheme}:// URI; Ferry reads local folders and s3:// URIs",
            args.source
        );
    } else {
        let folder = LocalFolder::open(&args.source)?;
        judge(&folder, args.concurrency, args.region.clone()).await?
    };

    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        Format::Text => write!(stdout, "{}", report.render_text())?,
    }
    stdout.flush().context("writing the report")?;
    Ok(ExitCode::from(if report.ok { 0 } else { 1 }))
}

async fn judge<S: FolderSource>(
    folder: &S,
    concurrency: u16,
    region: Option<String>,
) -> Result<Report> {
    let bar = progress_bar();
    let progress = |done: usize, total: usize| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    };
    let options = ValidateOptions {
        concurrency: usize::from(concurrency),
        progress: Some(&progress),
        region,
    };
    let report = validate(folder, &options).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    Ok(report?)
}

/// A bar on stderr, only when stderr is a terminal (never in pipes, logs or CI).
fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("reading safetensors headers {bar:30} {pos}/{len}").ok()?;
    bar.set_style(style);
    Some(bar)
}
