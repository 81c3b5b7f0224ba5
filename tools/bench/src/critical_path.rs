//! The functions' paths to CreateModelImportJob with AWS's latency put back: every
//! request through [`crate::latency`]'s proxies, a fixed delay each. For each model
//! size, a fresh importer imports one folder (and queues a second), then a fresh
//! tracker's sweep completes the first job and starts the queued import.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use ferry_local_lambda::{workspace_binary, LocalLambda};
use ferry_local_stack::{LocalStack, Uploaded, UPLOAD_BATCH_SIZE};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::functions::wait_for_jobs_to_end;
use crate::latency::{path_to, Call, Delayed, Path};

const CREATE: &str = "Bedrock.CreateModelImportJob";
const CALL: Duration = Duration::from_secs(300);

/// One function's invocation at the injected delay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// `importer` (a fresh process's first batch) or `tracker` (a fresh process's sweep).
    pub function: String,
    pub shards: usize,
    pub delay_ms: f64,
    /// Up to the CreateModelImportJob request.
    pub path: Path,
    /// The whole invocation.
    pub invocation_ms: f64,
    /// Every call of the invocation, `Service.Operation` → count.
    pub calls: BTreeMap<String, u64>,
}

/// The importer and tracker binaries measured (`dir`: another build's, for a
/// before/after comparison).
pub struct Binaries {
    importer: PathBuf,
    tracker: PathBuf,
}

impl Binaries {
    pub fn from(dir: Option<&FsPath>) -> Result<Binaries> {
        let find = |name: &str| match dir {
            Some(d) => Ok(d.join(name)),
            None => workspace_binary(name),
        };
        Ok(Binaries {
            importer: find("ferry-importer")?,
            tracker: find("ferry-tracker")?,
        })
    }
}

/// Both functions' rows for each model size, at `delay` per request.
pub async fn measure(
    stack: &LocalStack,
    binaries: &Binaries,
    shards: &[usize],
    delay: Duration,
) -> Result<Vec<Row>> {
    let mut proxies = Delayed::new();
    let moto = proxies.proxy(&stack.moto.endpoint(), delay).await?;
    let emulator = proxies.proxy(stack.emulator.endpoint(), delay).await?;
    let endpoints = [
        ("AWS_ENDPOINT_URL".to_owned(), moto),
        ("AWS_ENDPOINT_URL_BEDROCK".to_owned(), emulator.clone()),
        ("AWS_ENDPOINT_URL_CLOUDWATCH".to_owned(), emulator),
    ];
    let mut rows = Vec::new();
    for &n in shards {
        eprintln!("bench: critical path, {n}-shard model, {delay:?} per request");
        let (a, b) = upload_pair(stack, n).await?;
        // The weight files there are (the fixture adds layers for as many as asked).
        let n = a
            .iter()
            .filter(|(k, _)| k.ends_with(".safetensors"))
            .count();
        let mut importer_env = stack.importer_env();
        importer_env.extend(endpoints.iter().cloned());
        let mut importer = start(&binaries.importer, "ferry-importer", &importer_env).await?;
        let first = &a[..a.len().min(UPLOAD_BATCH_SIZE)];
        let row = invoke(&proxies, &mut importer, stack.upload_events(first), delay).await?;
        rows.push(Row { shards: n, ..row });
        let queued = &b[..b.len().min(UPLOAD_BATCH_SIZE)];
        importer.invoke(stack.upload_events(queued), CALL).await?;
        importer.stop_and_take_logs().await;
        wait_for_jobs_to_end(stack).await?;

        let mut tracker_env = stack.tracker_env().await?;
        tracker_env.extend(endpoints.iter().cloned());
        let mut tracker = start(&binaries.tracker, "ferry-tracker", &tracker_env).await?;
        let row = invoke(&proxies, &mut tracker, json!({"action": "sweep"}), delay).await?;
        rows.push(Row {
            function: "tracker".into(),
            shards: n,
            ..row
        });
        tracker.stop_and_take_logs().await;
        wait_for_jobs_to_end(stack).await?;
    }
    Ok(rows)
}

/// The same model uploaded twice (two folders, two contents), so that a second
/// import waits in the queue.
async fn upload_pair(stack: &LocalStack, shards: usize) -> Result<(Vec<Uploaded>, Vec<Uploaded>)> {
    let model = tempfile::tempdir()?;
    let family = ferry_testkit::families::family("llama-3.1");
    ferry_testkit::fixtures::write_model(model.path(), &family, shards)?;
    let a = stack
        .upload_model(&format!("path-{shards}-a"), model.path())
        .await?;
    let b = stack
        .upload_model(&format!("path-{shards}-b"), model.path())
        .await?;
    ensure!(!a.is_empty() && !b.is_empty(), "nothing uploaded");
    Ok((a, b))
}

async fn start(binary: &FsPath, name: &str, env: &[(String, String)]) -> Result<LocalLambda> {
    let mut function = LocalLambda::start(name).await?;
    function
        .spawn(binary, env)
        .with_context(|| format!("starting {}", binary.display()))?;
    function.wait_ready(Duration::from_secs(30)).await?;
    Ok(function)
}

/// One invocation; its row has the path to Create (none made: an error).
async fn invoke(
    proxies: &Delayed,
    function: &mut LocalLambda,
    event: serde_json::Value,
    delay: Duration,
) -> Result<Row> {
    proxies.log.take();
    let invoked_ms = proxies.log.now_ms();
    let started = Instant::now();
    let outcome = function.invoke(event, CALL).await?;
    let invocation_ms = started.elapsed().as_secs_f64() * 1e3;
    let calls = proxies.log.take();
    let path = path_to(&calls, CREATE, invoked_ms, delay)
        .with_context(|| format!("no CreateModelImportJob in the invocation: {outcome:?}"))?;
    Ok(Row {
        function: "importer".into(),
        shards: 0,
        delay_ms: delay.as_secs_f64() * 1e3,
        path,
        invocation_ms,
        calls: count(&calls),
    })
}

fn count(calls: &[Call]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for call in calls {
        *out.entry(call.operation.clone()).or_default() += 1;
    }
    out
}
