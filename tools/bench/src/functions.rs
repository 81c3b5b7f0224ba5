//! The functions' release binaries under the local Runtime API against the local
//! stack: cold starts, first and warm invocations, peak RSS, and the API calls their
//! own clients report (the `ApiCalls` EMF lines they print after every invocation).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use ferry_core::import::{Handled, ImportAnswer};
use ferry_core::track::metrics::sum_api_call_lines;
use ferry_local_lambda::{workspace_binary, LocalLambda, Outcome};
use ferry_local_stack::{LocalStack, Uploaded, UPLOAD_BATCH_SIZE};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const CALL: Duration = Duration::from_secs(120);

#[derive(Debug, Serialize)]
pub struct Distribution {
    pub runs: usize,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

impl Distribution {
    pub fn of(mut samples_ms: Vec<f64>) -> Distribution {
        samples_ms.sort_by(f64::total_cmp);
        let n = samples_ms.len();
        // Nearest rank: the smallest sample with at least p% of the samples at or below it.
        let rank = |p: f64| samples_ms[((p * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1];
        if n == 0 {
            return Distribution {
                runs: 0,
                median_ms: f64::NAN,
                p95_ms: f64::NAN,
                min_ms: f64::NAN,
                max_ms: f64::NAN,
            };
        }
        Distribution {
            runs: n,
            median_ms: rank(0.5),
            p95_ms: rank(0.95),
            min_ms: samples_ms[0],
            max_ms: samples_ms[n - 1],
        }
    }
}

/// The bare `lambda_runtime` binary the functions' inits are compared with.
pub const BARE: &str = "ferry-bare-lambda";

/// Init of `runs` fresh processes of each function and of the bare binary (and of
/// `tracker_before`, another build's tracker, when given), run after run in turn so
/// that the machine's state weighs on all alike: exec to the first `next` request.
pub async fn cold_starts(
    stack: &LocalStack,
    runs: usize,
    tracker_before: Option<&std::path::Path>,
) -> Result<BTreeMap<String, Distribution>> {
    let tracker_env = stack.tracker_env().await?;
    let mut binaries = vec![
        (
            "ferry-importer",
            workspace_binary("ferry-importer")?,
            stack.importer_env(),
        ),
        (
            "ferry-tracker",
            workspace_binary("ferry-tracker")?,
            tracker_env.clone(),
        ),
        (BARE, workspace_binary(BARE)?, Vec::new()),
    ];
    if let Some(before) = tracker_before {
        binaries.push(("ferry-tracker-before", before.to_path_buf(), tracker_env));
    }
    let mut functions = Vec::new();
    for (name, binary, env) in binaries {
        let function = LocalLambda::start(name).await?;
        functions.push((name, binary, function, env, Vec::with_capacity(runs)));
    }
    for run in 0..runs {
        for (_, binary, function, env, samples) in &mut functions {
            if run == 0 {
                function.spawn(binary, env)?;
            } else {
                function.respawn()?;
            }
            let init = function.wait_ready(Duration::from_secs(30)).await?;
            samples.push(init.as_secs_f64() * 1e3);
            function.kill().await;
        }
    }
    Ok(functions
        .into_iter()
        .map(|(name, _, _, _, samples)| (name.to_owned(), Distribution::of(samples)))
        .collect())
}

/// One burst of events for one model folder, and the sweep that records its end.
#[derive(Debug, Serialize)]
pub struct Burst {
    pub events: usize,
    pub invocations: usize,
    pub shards: usize,
    pub importer_init_ms: f64,
    /// The first batch (up to 10 events): listing, validation, access check, the job.
    pub importer_first_invocation_ms: f64,
    /// Mean of the invocations after the first (none for a one-batch burst).
    pub importer_warm_invocation_ms: Option<f64>,
    pub importer_peak_rss_kib: u64,
    pub tracker_init_ms: f64,
    /// The sweep that finds the job Completed and records it, on a fresh process (the
    /// sweeps that find it still running are not part of the burst).
    pub tracker_first_invocation_ms: f64,
    pub tracker_peak_rss_kib: u64,
    /// `Service.Operation` → calls (as the code made them; retries not included).
    pub importer_calls: BTreeMap<String, u64>,
    pub tracker_calls: BTreeMap<String, u64>,
    pub importer_attempts: u64,
    pub create_model_import_job: u64,
    pub s3_calls: u64,
    pub jobs_started: usize,
}

/// Uploads a `shards`-shard model under `name`, delivers `events` events of its folder
/// (its objects over and over) in batches of 10 to a fresh importer, waits for the job,
/// and runs one sweep on a fresh tracker.
pub async fn burst(stack: &LocalStack, name: &str, shards: usize, events: usize) -> Result<Burst> {
    ensure!(events > 0, "a burst needs at least one event");
    let model = tempfile::tempdir()?;
    let family = ferry_testkit::families::family("llama-3.1");
    ferry_testkit::fixtures::write_model(model.path(), &family, shards)?;
    let objects = stack.upload_model(name, model.path()).await?;
    ensure!(!objects.is_empty(), "nothing uploaded for {name}");
    let jobs_before = stack.emulator.jobs().len();

    let mut importer = stack.start_importer(&[]).await?;
    let importer_init_ms = ms(importer.init_duration().unwrap_or_default());
    importer.take_logs();
    let stream: Vec<Uploaded> = objects.iter().cycle().take(events).cloned().collect();
    let times = deliver(stack, &mut importer, &stream).await?;
    let importer_peak_rss_kib = peak_rss_kib(&importer)?;
    let importer_log = importer.stop_and_take_logs().await;

    let jobs_started = stack.emulator.jobs().len() - jobs_before;
    wait_for_jobs_to_end(stack).await?;
    let mut tracker = stack.start_tracker(&[]).await?;
    let tracker_init_ms = ms(tracker.init_duration().unwrap_or_default());
    tracker.take_logs();
    let started = Instant::now();
    let report = answer(
        tracker.invoke(json!({"action": "sweep"}), CALL).await?,
        "tracker",
    )?;
    let tracker_first_invocation_ms = ms(started.elapsed());
    ensure!(
        report["completed"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "the sweep recorded no completion: {report}"
    );
    let tracker_peak_rss_kib = peak_rss_kib(&tracker)?;
    let tracker_log = tracker.stop_and_take_logs().await;

    let (importer_calls, importer_attempts) = calls(&importer_log);
    let (tracker_calls, _) = calls(&tracker_log);
    Ok(Burst {
        events,
        invocations: times.len(),
        shards,
        importer_init_ms,
        importer_first_invocation_ms: times[0],
        importer_warm_invocation_ms: (times.len() > 1)
            .then(|| times[1..].iter().sum::<f64>() / (times.len() - 1) as f64),
        importer_peak_rss_kib,
        tracker_init_ms,
        tracker_first_invocation_ms,
        tracker_peak_rss_kib,
        create_model_import_job: importer_calls
            .get("Bedrock.CreateModelImportJob")
            .copied()
            .unwrap_or(0),
        s3_calls: importer_calls
            .iter()
            .filter(|(op, _)| op.starts_with("S3."))
            .map(|(_, n)| n)
            .sum(),
        importer_calls,
        tracker_calls,
        importer_attempts,
        jobs_started,
    })
}

/// Delivers `stream` to the importer in batches as SQS would; the time of each call.
async fn deliver(
    stack: &LocalStack,
    importer: &mut LocalLambda,
    stream: &[Uploaded],
) -> Result<Vec<f64>> {
    let mut times = Vec::new();
    for batch in stream.chunks(UPLOAD_BATCH_SIZE) {
        let started = Instant::now();
        let response = answer(
            importer.invoke(stack.upload_events(batch), CALL).await?,
            "importer",
        )?;
        times.push(ms(started.elapsed()));
        let all_taken = match ImportAnswer::deserialize(&response) {
            Ok(ImportAnswer::Handled(Handled {
                batch_item_failures: Some(failures),
                ..
            })) => failures.is_empty(),
            _ => false,
        };
        ensure!(all_taken, "the importer failed events: {response}");
    }
    Ok(times)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn answer(outcome: Outcome, function: &str) -> Result<Value> {
    match outcome {
        Outcome::Response(v) => Ok(v),
        Outcome::Error(e) => bail!("{function} failed: {e}"),
    }
}

/// `Service.Operation` → calls, and all attempts, from a function's EMF lines.
fn calls(log: &[String]) -> (BTreeMap<String, u64>, u64) {
    let mut attempts = 0;
    let calls = sum_api_call_lines(log.iter().map(String::as_str))
        .into_iter()
        .map(|((_, service, operation), (calls, tried))| {
            attempts += tried;
            (format!("{service}.{operation}"), calls)
        })
        .collect();
    (calls, attempts)
}

/// The process's peak resident set (VmHWM). Lambda's "Max Memory Used" is the whole
/// sandbox's, a little more.
fn peak_rss_kib(function: &LocalLambda) -> Result<u64> {
    let pid = function.pid().context("the function is not running")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading /proc/PID/status (Linux only)")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")
}

/// Waits until no emulated import job runs (at most a minute).
pub(crate) async fn wait_for_jobs_to_end(stack: &LocalStack) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while stack
        .emulator
        .jobs()
        .iter()
        .any(|(_, status)| status == "InProgress")
    {
        ensure!(Instant::now() < deadline, "an import job never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Distribution;

    #[test]
    fn percentiles_are_nearest_rank() {
        let d = Distribution::of((1..=20).rev().map(f64::from).collect());
        assert_eq!((d.runs, d.median_ms, d.p95_ms), (20, 10.0, 19.0));
        assert_eq!((d.min_ms, d.max_ms), (1.0, 20.0));
        let one = Distribution::of(vec![7.0]);
        assert_eq!((one.median_ms, one.p95_ms), (7.0, 7.0));
        assert_eq!(Distribution::of(Vec::new()).runs, 0);
    }
}
