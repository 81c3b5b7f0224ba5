//! `ferry-bench`: Ferry's benchmark report (`scripts/bench` builds and runs it).
//! Cold starts, peak memory, bytes read, API calls and access-check speed, measured
//! on this machine with the functions' real binaries and the local two-account stack.

mod access_check;
mod bytes_read;
mod critical_path;
mod folder_s3;
mod functions;
mod hostile;
mod latency;
mod report;
mod sizes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use ferry_local_stack::{LocalStack, Options};

#[derive(Parser)]
#[command(about = "Measures Ferry and writes the report (markdown and JSON)")]
struct Args {
    /// Fewer runs and no 400-event burst: keeps the bench working in CI (no timing
    /// thresholds are judged there)
    #[arg(long)]
    quick: bool,
    /// Where report.md and report.json go
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// criterion's output folder, holding the access_check bench's estimates
    #[arg(long, default_value = "target/criterion")]
    criterion: PathBuf,
    /// Replace the README's Performance numbers (between the bench markers) too
    #[arg(long)]
    readme: Option<PathBuf>,
    /// Only the hostile-folder check (peak RSS, report size, time of `ferry validate`
    /// on hostile-but-valid folders); prints its table and judges its bounds
    #[arg(long)]
    hostile_only: bool,
    /// `cargo lambda build --release --arm64`'s output folder (`target/lambda`): report
    /// the functions' arm64 sizes beside the x86_64 ones
    #[arg(long)]
    arm64: Option<PathBuf>,
    /// The delay added to every AWS request on the critical-path measurement, in ms
    #[arg(long, default_value_t = 20)]
    delay_ms: u64,
    /// Only the critical-path measurement; writes critical-path.json in --out
    #[arg(long)]
    path_only: bool,
    /// Take ferry-importer and ferry-tracker from this folder for the critical path
    /// (another build's, to compare)
    #[arg(long)]
    binaries: Option<PathBuf>,
    /// A critical-path.json of another build (--path-only --binaries), shown beside
    /// this run's figures as "before"
    #[arg(long)]
    before: Option<PathBuf>,
    /// Only the cold starts, with this other build's ferry-tracker measured beside
    /// today's and the bare binary, run after run (a change's effect on init)
    #[arg(long, value_name = "BINARY")]
    tracker_before: Option<PathBuf>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == hostile::MEASURE_ARG) {
        return hostile::measure_child(&argv[2..]);
    }
    let args = Args::parse();
    let plan = plan(args.quick);
    let started = std::time::Instant::now();
    let scale = if args.quick {
        hostile::Scale::quick()
    } else {
        hostile::Scale::full()
    };
    if args.hostile_only {
        return hostile_only(&scale);
    }
    if args.path_only {
        return path_only(&args, &plan).await;
    }
    if let Some(before) = &args.tracker_before {
        return tracker_before(before, &plan).await;
    }
    let report = measure(&args, plan, &scale, started).await?;
    publish(&args, &report)
}

/// `--tracker-before`: init of today's functions, the bare binary and another build's
/// tracker, interleaved, printed as a table.
async fn tracker_before(before: &std::path::Path, plan: &report::Plan) -> Result<()> {
    let stack = LocalStack::start(Options::default()).await?;
    let cold = functions::cold_starts(&stack, plan.cold_runs, Some(before)).await?;
    println!("| binary | runs | init median (ms) | p95 | min | max |\n|---|---|---|---|---|---|");
    for (name, d) in &cold {
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            d.runs, d.median_ms, d.p95_ms, d.min_ms, d.max_ms
        );
    }
    Ok(())
}

/// How many runs, bursts and shards: fewer in quick mode (no 400-event burst).
fn plan(quick: bool) -> report::Plan {
    if quick {
        report::Plan {
            cold_runs: 3,
            bursts: vec![1, 40],
            shards: vec![1, 30, 300],
            shard_sizes: vec![65_536_000, 655_360_000],
            path_shards: vec![30],
        }
    } else {
        report::Plan {
            cold_runs: 25,
            bursts: vec![1, 40, 400],
            shards: vec![1, 30, 300],
            shard_sizes: vec![65_536_000, 655_360_000],
            path_shards: vec![30, 300],
        }
    }
}

/// Measures everything the report holds; `started` is when the bench began.
async fn measure(
    args: &Args,
    plan: report::Plan,
    scale: &hostile::Scale,
    started: Instant,
) -> Result<report::Report> {
    eprintln!("bench: hostile folders (ferry validate's memory and report bounds)");
    let hostile = hostile::measure(scale)?;
    eprintln!("bench: access checker (criterion estimates)");
    let access = access_check::read(&args.criterion)?;
    eprintln!("bench: binary and zip sizes");
    let sizes = sizes::measure(!args.quick, args.arm64.as_deref())?;
    eprintln!("bench: bytes read for sparse models");
    let bytes = bytes_read::measure(&plan.shards, &plan.shard_sizes).await?;
    let (cold, bursts, path) = measure_functions(args, &plan).await?;
    let before = match &args.before {
        Some(file) => Some(serde_json::from_str(&std::fs::read_to_string(file)?)?),
        None => None,
    };
    Ok(report::Report {
        machine: report::Machine::read(),
        mode: if args.quick { "quick" } else { "full" },
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        plan,
        cold_start: cold,
        bursts,
        delay_ms: args.delay_ms as f64,
        critical_path: path,
        critical_path_before: before,
        bytes_read: bytes,
        hostile,
        access_check: access,
        sizes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The functions' cold starts, bursts and critical paths, on a local stack stopped
/// before returning.
async fn measure_functions(
    args: &Args,
    plan: &report::Plan,
) -> Result<(
    BTreeMap<String, functions::Distribution>,
    Vec<functions::Burst>,
    Vec<critical_path::Row>,
)> {
    // Jobs of half a second: the bursts wait for each to end.
    let stack = start_stack(Duration::from_millis(500)).await?;
    eprintln!("bench: {} cold starts per function", plan.cold_runs);
    let cold = functions::cold_starts(&stack, plan.cold_runs, None).await?;
    let mut bursts = Vec::new();
    for &events in &plan.bursts {
        eprintln!("bench: burst of {events} event(s), 30-shard model");
        bursts.push(functions::burst(&stack, &format!("bench-burst-{events}"), 30, events).await?);
    }
    drop(stack);
    let path = critical_paths(args, plan).await?;
    Ok((cold, bursts, path))
}

/// The critical paths, on a stack of their own whose jobs run long enough that an
/// import queued right after a first one finds it running.
async fn critical_paths(args: &Args, plan: &report::Plan) -> Result<Vec<critical_path::Row>> {
    let stack = start_stack(Duration::from_secs(8)).await?;
    let binaries = critical_path::Binaries::from(args.binaries.as_deref())?;
    let delay = Duration::from_millis(args.delay_ms);
    critical_path::measure(&stack, &binaries, &plan.path_shards, delay).await
}

async fn start_stack(job_duration: Duration) -> Result<LocalStack> {
    eprintln!("bench: starting the local stack");
    LocalStack::start(Options {
        job_duration,
        ..Options::default()
    })
    .await
}

/// `--path-only`: the critical paths alone (of `--binaries` when given), as JSON.
async fn path_only(args: &Args, plan: &report::Plan) -> Result<()> {
    let rows = critical_paths(args, plan).await?;
    std::fs::create_dir_all(&args.out)?;
    let file = args.out.join("critical-path.json");
    std::fs::write(&file, serde_json::to_string_pretty(&rows)? + "\n")?;
    print!("{}", report::critical_path_table(&rows, None));
    eprintln!("bench: {}", file.display());
    Ok(())
}

/// Writes report.json, report.md (and the README's section when asked), and prints
/// the markdown. When an invariant broke, nothing is written: the published report and
/// README keep the last good run.
fn publish(args: &Args, report: &report::Report) -> Result<()> {
    let broken = report.broken_invariants();
    if !broken.is_empty() {
        println!("{}", report.markdown());
        for problem in &broken {
            eprintln!("bench: {problem}");
        }
        anyhow::bail!("{} invariant(s) broken; see above", broken.len());
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(args.out.join("report.json"), json + "\n")?;
    let markdown = report.markdown();
    std::fs::write(args.out.join("report.md"), &markdown)?;
    if let Some(readme) = &args.readme {
        report::replace_readme_section(readme, &report.readme_summary())?;
    }
    println!("{markdown}");
    eprintln!(
        "bench: report in {} ({:.0} s)",
        args.out.display(),
        report.seconds
    );
    Ok(())
}

/// `--hostile-only`: the hostile folders alone, judged as in the full report.
fn hostile_only(scale: &hostile::Scale) -> Result<()> {
    let rows = hostile::measure(scale)?;
    print!("{}", report::hostile_table(&rows));
    let broken: Vec<String> = rows.iter().flat_map(hostile::Hostile::broken).collect();
    for problem in &broken {
        eprintln!("bench: {problem}");
    }
    if !broken.is_empty() {
        anyhow::bail!("{} invariant(s) broken; see above", broken.len());
    }
    Ok(())
}
