//! `ferry demo`: the whole pipeline on this machine, no AWS account. Both accounts in
//! moto (the SAM stacks from `infra/`), the Bedrock emulator, the real importer and
//! tracker binaries under a local Lambda Runtime API; a timeline from upload to
//! cleanup plan, then a broken chain and the access checker's explanation. With
//! `--stages`, three hosting accounts and promotion between them (`demo/stages.rs`).

mod stages;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ferry_core::import::ImportState;
use ferry_local_lambda::{LocalLambda, Outcome};
use ferry_local_stack::{LocalStack, Options, BUCKET, HOSTING, PREFIX, RESEARCH};
use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct Args {
    /// How long the emulated import job runs
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    job_seconds: f64,
    /// Three hosting accounts (dev, staging, prod): one upload promoted through them
    #[arg(long)]
    stages: bool,
}

const CALL: Duration = Duration::from_secs(120);

struct Timeline {
    start: Instant,
    failures: Vec<String>,
}

impl Timeline {
    /// The last lines: passed in how long, or every failed check; the exit status.
    fn verdict(&self, demo: &str) -> ExitCode {
        println!();
        if self.failures.is_empty() {
            println!(
                "{demo} passed in {:.1} s. Everything it started has stopped.",
                self.start.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        } else {
            println!("{demo} FAILED: {}", self.failures.join("; "));
            ExitCode::from(1)
        }
    }

    fn step(&self, stage: &str, detail: impl AsRef<str>) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let mut lines = detail.as_ref().lines();
        println!(
            "[{elapsed:6.2}s] {stage:<14} {}",
            lines.next().unwrap_or("")
        );
        for line in lines {
            println!("{:24}{line}", "");
        }
    }

    fn check(&mut self, ok: bool, what: &str) {
        if ok {
            self.step("✔", what);
        } else {
            self.step("✘ FAILED", what);
            self.failures.push(what.to_owned());
        }
    }
}

pub async fn run(args: Args) -> Result<ExitCode> {
    if !(0.0..=600.0).contains(&args.job_seconds) {
        bail!("--job-seconds: between 0 and 600");
    }
    if args.stages {
        return stages::run(args.job_seconds).await;
    }
    let mut t = Timeline {
        start: Instant::now(),
        failures: Vec::new(),
    };
    println!("Ferry demo: research account {RESEARCH} → Bedrock Custom Model Import in hosting account {HOSTING}, all on 127.0.0.1\n");

    let stack = LocalStack::start(Options {
        job_duration: Duration::from_secs_f64(args.job_seconds),
        // The first smoke calls find the model still being restored, and a model
        // named llama-bad* is broken: its server fails every call.
        not_ready_calls: 2,
        broken_models: Some("^llama-bad".into()),
        ..Options::default()
    })
    .await
    .context("starting the local stack (scripts/setup installs moto)")?;
    t.step(
        "stack",
        format!(
            "moto at {} (both accounts), Bedrock emulator at {}\nstacks ferry-hosting ({} resources) and ferry-research ({} resources) created from infra/*.yaml; bucket and key statements from `ferry policies`",
            stack.moto.endpoint(),
            stack.emulator.endpoint(),
            stack.hosting_stack.created.len(),
            stack.research_stack.created.len()
        ),
    );

    // Policies are read fresh for every import here (production caches them for 60 s),
    // so the broken chain below is judged at once.
    let mut importer = stack
        .start_importer(&[("FERRY_POLICY_CACHE_SECONDS", "0")])
        .await?;
    // One HTTP attempt per InvokeModel, so that the warming shows sweep by sweep.
    let mut tracker = stack.start_tracker(&[("AWS_MAX_ATTEMPTS", "1")]).await?;
    let importer_init = importer.init_duration().unwrap_or_default();
    let tracker_init = tracker.init_duration().unwrap_or_default();
    t.step(
        "functions",
        format!(
            "ferry-importer and ferry-tracker, the real binaries under a local Lambda Runtime API: init {:.1} ms and {:.1} ms",
            importer_init.as_secs_f64() * 1e3,
            tracker_init.as_secs_f64() * 1e3
        ),
    );

    // A small model in Hugging Face format: real config, tokenizer, sharded safetensors.
    let objects = stack.upload_fixture("llama-demo", "llama-3.1", 2).await?;
    let bytes: i64 = objects.iter().map(|(_, size)| size).sum();
    t.step(
        "upload",
        format!(
            "{} files, {bytes} bytes to s3://{BUCKET}/{PREFIX}llama-demo/ (SSE-KMS, the research key)",
            objects.len()
        ),
    );

    // S3 → EventBridge → the research stack's rule → its SQS queue → the importer,
    // as the event source mapping delivers it; then every batch once more, reversed
    // (delivery is at least once, in any order).
    let mut started = 0;
    let mut delivered = Vec::new();
    let mut deliveries = 0;
    while let Some(batch) = stack.next_upload_batch(Duration::from_millis(1500)).await? {
        let count = batch.event["Records"].as_array().map_or(0, Vec::len);
        deliveries += count;
        t.step("events", format!("{count} S3 Object Created notifications: EventBridge rule ferry-uploads → SQS ferry-uploads → importer"));
        let response = response(
            importer.invoke(batch.event.clone(), CALL).await?,
            "importer",
        )?;
        started += report_decisions(&t, &response, &importer.take_logs());
        stack.acknowledge(&batch, &response).await?;
        delivered.push(batch.event);
    }
    for event in delivered.iter().rev() {
        let mut again = event.clone();
        if let Some(records) = again["Records"].as_array_mut() {
            records.reverse();
            deliveries += records.len();
        }
        t.step(
            "events",
            "the same notifications delivered again, in reverse order",
        );
        let response = response(importer.invoke(again, CALL).await?, "importer")?;
        started += report_decisions(&t, &response, &importer.take_logs());
    }
    t.check(
        started == 1 && stack.emulator.jobs().len() == 1,
        &format!(
            "exactly one import job for {deliveries} deliveries of {} uploads",
            objects.len()
        ),
    );

    let job_started = Instant::now();
    let mut last_status = String::new();
    let mut completed = false;
    while job_started.elapsed() < Duration::from_secs_f64(args.job_seconds + 60.0) {
        let report = response(
            tracker.invoke(json!({"action": "sweep"}), CALL).await?,
            "tracker",
        )?;
        let status = stack
            .emulator
            .jobs()
            .first()
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        if status != last_status {
            t.step(
                "job",
                format!(
                    "{status} (tracker sweep: {} running, {} completed)",
                    report["running"],
                    report["completed"].as_array().map_or(0, Vec::len)
                ),
            );
            last_status = status;
        }
        if report["completed"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
        {
            completed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    t.check(completed, "the tracker followed the job to Completed");
    t.check(
        stack.emulator.imported_models().len() == 1,
        "one imported model in the hosting account",
    );

    let alerts = stack.alerts().await?;
    for alert in &alerts {
        t.step("alert", without_details(alert));
    }
    t.check(
        alerts
            .iter()
            .any(|a| a.contains("was imported into Amazon Bedrock")),
        "the completion alert arrived",
    );

    after_import(&mut t, &stack, &mut importer, &mut tracker).await?;
    let jobs_before = stack.emulator.jobs().len();

    let plan = response(
        tracker
            .invoke(json!({"action": "cleanup", "dry_run": true}), CALL)
            .await?,
        "tracker",
    )?;
    t.step("cleanup plan", describe_plan(&plan));

    // The broken variant: seed step 3 skipped.
    stack.set_research_key_statement(false).await?;
    t.step("broken chain", "the research key's policy loses the statement for the execution role (seed step 3 skipped)");
    stack.upload_fixture("llama-broken", "llama-3.1", 1).await?;
    let mut decisions: Vec<Value> = Vec::new();
    while let Some(batch) = stack.next_upload_batch(Duration::from_millis(1500)).await? {
        let response = response(
            importer.invoke(batch.event.clone(), CALL).await?,
            "importer",
        )?;
        stack.acknowledge(&batch, &response).await?;
        for decision in response["decisions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            t.step("importer", describe_decision(&decision));
            decisions.push(decision);
        }
    }
    let rejected = decisions.iter().any(|d| d["decision"] == "access_denied");
    let alerts = stack.alerts().await?;
    for alert in &alerts {
        t.step("alert", without_details(alert));
    }
    t.check(
        rejected && alerts.iter().any(|a| a.contains("kms-source")),
        "the import was rejected before any job, with the checker's explanation",
    );
    t.check(
        stack.emulator.jobs().len() == jobs_before,
        "no job was started for the broken chain",
    );

    importer.kill().await;
    tracker.kill().await;
    // Stops moto and the emulator; the model folders go with their TempDirs.
    drop(stack);
    Ok(t.verdict("Demo"))
}

/// After the import: warming, verified, released (the parameter's value); a second
/// version released; a rollback; a broken model not released; the events a consumer got.
async fn after_import(
    t: &mut Timeline,
    stack: &LocalStack,
    importer: &mut LocalLambda,
    tracker: &mut LocalLambda,
) -> Result<()> {
    let first = release_version(t, stack, tracker, "llama-demo").await?;
    stack.upload_fixture("llama-demo", "llama-3.1", 3).await?;
    t.step(
        "upload",
        "a second version of llama-demo (3 shards): new content, new fingerprint",
    );
    deliver_uploads(t, stack, importer).await?;
    let second = release_version(t, stack, tracker, "llama-demo").await?;
    t.check(
        first != second,
        "the second version is live; the first is the rollback target",
    );

    let ports = stack.release_ports().await?;
    let back = ferry_core::release::rollback(
        &ports.hosting,
        &ports.pointer,
        "llama-demo",
        "the demo's operator",
    )
    .await?;
    let value = stack.release_parameter("llama-demo").await?;
    t.step(
        "rollback",
        format!(
            "ferry rollback llama-demo: {} is live again\n{} = {}",
            back.live,
            stack.release_parameter_name("llama-demo"),
            value.as_deref().unwrap_or("-")
        ),
    );
    t.check(value == first, "the parameter is back on the first version");

    stack.upload_fixture("llama-bad", "llama-3.1", 1).await?;
    t.step(
        "upload",
        "llama-bad: a model whose server fails every call (emulated)",
    );
    deliver_uploads(t, stack, importer).await?;
    stack
        .sweep_until(tracker, "llama-bad", ImportState::SmokeFailed)
        .await?;
    for alert in stack.alerts().await? {
        t.step("alert", without_details(&alert));
    }
    t.check(
        stack.release_parameter("llama-bad").await?.is_none(),
        "the model that failed its smoke test was not released",
    );
    show_events(t, stack).await
}

/// Sweeps until the newest version of `model` is released, showing each sweep's
/// smoke-test news; the parameter's value.
async fn release_version(
    t: &mut Timeline,
    stack: &LocalStack,
    tracker: &mut LocalLambda,
    model: &str,
) -> Result<Option<String>> {
    let reports = stack
        .sweep_until(tracker, model, ImportState::Released)
        .await?;
    for report in &reports {
        for (field, what) in [
            ("completed", "import completed"),
            (
                "warming",
                "warming: ModelNotReadyException, tried again next sweep",
            ),
            ("verified", "verified: the model answered its smoke test"),
            ("released", "released"),
        ] {
            for name in report[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                t.step("tracker", format!("{name}: {what}"));
            }
        }
    }
    let value = stack.release_parameter(model).await?;
    let live = stack.versions(model).await?.pop().and_then(|i| i.model_arn);
    t.step(
        "release",
        format!(
            "{} = {}",
            stack.release_parameter_name(model),
            value.as_deref().unwrap_or("-")
        ),
    );
    t.check(
        value.is_some() && value == live,
        &format!("{model}'s parameter names its newest version"),
    );
    Ok(value)
}

/// Hands the upload queue's batches to the importer until it is empty.
async fn deliver_uploads(
    t: &Timeline,
    stack: &LocalStack,
    importer: &mut LocalLambda,
) -> Result<()> {
    while let Some(batch) = stack.next_upload_batch(Duration::from_millis(1500)).await? {
        let response = response(
            importer.invoke(batch.event.clone(), CALL).await?,
            "importer",
        )?;
        stack.acknowledge(&batch, &response).await?;
        report_decisions(t, &response, &[]);
    }
    Ok(())
}

/// The state-change events a consumer's rule received, one line per model version.
async fn show_events(t: &mut Timeline, stack: &LocalStack) -> Result<()> {
    let events = stack.state_events().await?;
    let mut by_version: Vec<(String, Vec<String>)> = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for event in &events {
        let detail = &event["detail"];
        ids.insert(detail["eventId"].as_str().unwrap_or_default().to_owned());
        let name = detail["name"].as_str().unwrap_or("?").to_owned();
        let state = detail["state"].as_str().unwrap_or("?").to_owned();
        match by_version.iter_mut().find(|(n, _)| *n == name) {
            Some((_, states)) => states.push(state),
            None => by_version.push((name, vec![state])),
        }
    }
    let lines: Vec<String> = by_version
        .iter()
        .map(|(n, s)| format!("{n}: {}", s.join(" → ")))
        .collect();
    t.step(
        "events",
        format!(
            "{} state changes on the default bus (rule source=ferry → SQS):\n{}",
            events.len(),
            lines.join("\n")
        ),
    );
    t.check(
        !events.is_empty() && ids.len() == events.len(),
        "every state change reached the consumer once",
    );
    Ok(())
}

fn response(outcome: Outcome, function: &str) -> Result<Value> {
    match outcome {
        Outcome::Response(v) => Ok(v),
        Outcome::Error(e) => bail!("{function} failed: {e}"),
    }
}

/// Prints the importer's decisions and what it logged about them; counts the starts.
fn report_decisions(t: &Timeline, response: &Value, logs: &[String]) -> usize {
    let mut started = 0;
    for decision in response["decisions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        if decision["decision"] == "started" {
            started += 1;
        }
        t.step("importer", describe_decision(&decision));
    }
    for line in log_messages(logs, &["access check", "folder decision"]) {
        t.step("  log", line);
    }
    started
}

fn describe_decision(d: &Value) -> String {
    let mut text = format!(
        "{} {}",
        d["decision"].as_str().unwrap_or("?"),
        d["folder"].as_str().unwrap_or("")
    );
    for field in ["job_arn", "name", "reason"] {
        if let Some(v) = d[field].as_str() {
            text.push_str(&format!("\n{field}: {}", first_lines(v, 3)));
        }
    }
    text
}

fn describe_plan(plan: &Value) -> String {
    let entries = plan["plan"]
        .as_array()
        .or_else(|| plan["entries"].as_array());
    match entries {
        Some(entries) if !entries.is_empty() => entries
            .iter()
            .map(|e| {
                format!(
                    "{} {}: {}",
                    if e["delete"] == true {
                        "delete"
                    } else {
                        "keep"
                    },
                    e["name"].as_str().unwrap_or("?"),
                    e["reason"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => first_lines(&plan.to_string(), 4),
    }
}

/// The `message` (and its reason or decision) of JSON log lines mentioning `topics`.
fn log_messages(lines: &[String], topics: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|log| {
            let message = log["fields"]["message"]
                .as_str()
                .or_else(|| log["message"].as_str())?
                .to_owned();
            topics.iter().any(|t| message.contains(t)).then(|| {
                let fields = &log["fields"];
                let extra = ["decision", "reason"]
                    .iter()
                    .filter_map(|k| fields[*k].as_str().map(|v| format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(" ");
                format!("{message} {extra}").trim().to_owned()
            })
        })
        .collect()
}

/// An alert's text without its JSON details block.
fn without_details(alert: &str) -> String {
    let text = alert
        .split("--- details")
        .next()
        .unwrap_or(alert)
        .trim_end();
    first_lines(text, 60)
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines.iter().take(n).copied().collect::<Vec<_>>().join("\n");
    if lines.len() > n {
        out.push_str(&format!("\n… ({} more lines)", lines.len() - n));
    }
    out
}
