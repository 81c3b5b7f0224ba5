//! `ferry demo --stages`: one upload through three hosting accounts. dev imports it on
//! upload, staging once dev's tracker has verified it (dev's forwarded events), prod
//! when `ferry promote` says so; one job per account however often the events come.
//! Then a bucket policy without prod's execution role: prod alone is refused, and its
//! alert says why.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ferry_core::import::ImportState;
use ferry_local_lambda::LocalLambda;
use ferry_local_stack::{
    started_stages as started, LocalStack, Options, HOSTING, PROD, RESEARCH, STAGES, STAGING,
};
use serde_json::Value;

use super::{describe_decision, first_lines, response, without_details, Timeline, CALL};

const MODEL: &str = "llama-stages";

/// The stages demo; exit 0 when every check held.
pub async fn run(job_seconds: f64) -> Result<ExitCode> {
    let mut t = Timeline {
        start: Instant::now(),
        failures: Vec::new(),
    };
    println!("Ferry demo, stages {STAGES}: research account {RESEARCH} → dev {HOSTING}, staging {STAGING}, prod {PROD}, all on 127.0.0.1\n");
    let stack = LocalStack::start(Options {
        stages: true,
        job_duration: Duration::from_secs_f64(job_seconds),
        ..Options::default()
    })
    .await
    .context("starting the local stack (scripts/setup installs moto)")?;
    t.step(
        "stack",
        format!(
            "moto at {} (four accounts), one Bedrock emulator at {} for the three hosting accounts (a slot, a quota and models each)\nferry-hosting in dev, staging and prod (ForwardPromotions=true), ferry-research with HostingAccountId and Stages",
            stack.moto.endpoint(),
            stack.emulator.endpoint()
        ),
    );
    let mut importer = stack
        .start_importer(&[("FERRY_POLICY_CACHE_SECONDS", "0")])
        .await?;
    let mut trackers = Vec::new();
    for name in ["dev", "staging", "prod"] {
        trackers.push(stack.start_stage_tracker(name, &[]).await?);
    }
    t.step(
        "functions",
        "ferry-importer (research) and a ferry-tracker per hosting account: the real binaries",
    );

    through_the_stages(&mut t, &stack, &mut importer, &mut trackers).await?;
    prod_mistake(&mut t, &stack, &mut importer, &mut trackers).await?;

    importer.kill().await;
    for tracker in &mut trackers {
        tracker.kill().await;
    }
    drop(stack);
    Ok(t.verdict("Stages demo"))
}

/// The first version: dev on upload, staging after dev, prod by `ferry promote`.
async fn through_the_stages(
    t: &mut Timeline,
    stack: &LocalStack,
    importer: &mut LocalLambda,
    trackers: &mut [LocalLambda],
) -> Result<()> {
    let objects = stack.upload_fixture(MODEL, "llama-3.1", 2).await?;
    t.step(
        "upload",
        format!(
            "{} files to {}{MODEL}/",
            objects.len(),
            stack.deployment.source_uri()
        ),
    );
    let decisions = deliver(t, stack, importer, "S3 Object Created notifications").await?;
    t.check(
        started(&decisions) == ["dev"],
        "the upload started dev's import alone",
    );

    verify(t, stack, "dev", &mut trackers[0]).await?;
    let decisions = deliver(t, stack, importer, "dev's promotion events").await?;
    t.check(
        started(&decisions) == ["staging"],
        "dev's events started staging's import, once",
    );
    verify(t, stack, "staging", &mut trackers[1]).await?;
    let decisions = deliver(t, stack, importer, "staging's promotion events").await?;
    t.check(
        started(&decisions).is_empty() && stack.emulator.jobs_in(PROD).is_empty(),
        "prod waits: its gate is manual",
    );

    let decision = promote(t, stack, "release train 42").await?;
    t.check(
        decision["decision"] == "started",
        "ferry promote started prod's import",
    );
    verify(t, stack, "prod", &mut trackers[2]).await?;
    let jobs: Vec<usize> = [HOSTING, STAGING, PROD]
        .iter()
        .map(|a| stack.emulator.jobs_in(a).len())
        .collect();
    t.step(
        "bedrock",
        format!(
            "import jobs per account: dev {}, staging {}, prod {}",
            jobs[0], jobs[1], jobs[2]
        ),
    );
    t.check(jobs == [1, 1, 1], "one job in each stage's account");
    for stage in &stack.stages {
        for alert in stage.alerts().await? {
            t.step("alert", alert.subject);
        }
    }
    Ok(())
}

/// A second version when the research team's bucket policy has forgotten prod's
/// execution role: dev and staging import it, prod is refused with its alert.
async fn prod_mistake(
    t: &mut Timeline,
    stack: &LocalStack,
    importer: &mut LocalLambda,
    trackers: &mut [LocalLambda],
) -> Result<()> {
    stack.put_bucket_policy_for(&["dev", "staging"]).await?;
    t.step(
        "broken chain",
        "the bucket policy is replaced by one without prod's execution role (a prod-only mistake)",
    );
    stack.upload_fixture(MODEL, "llama-3.1", 3).await?;
    t.step("upload", format!("a second version of {MODEL} (3 shards)"));
    deliver(t, stack, importer, "S3 Object Created notifications").await?;
    verify(t, stack, "dev", &mut trackers[0]).await?;
    deliver(t, stack, importer, "dev's promotion events").await?;
    verify(t, stack, "staging", &mut trackers[1]).await?;
    deliver(t, stack, importer, "staging's promotion events").await?;
    let decision = promote(t, stack, "release train 43").await?;
    let alerts = stack.stage("prod")?.alerts().await?;
    for alert in &alerts {
        let text = first_lines(&without_details(&alert.message), 12);
        t.step("alert", format!("{}\n{text}", alert.subject));
    }
    t.check(
        decision["decision"] == "access_denied"
            && alerts.iter().any(|a| {
                a.subject.starts_with("Ferry [prod]:") && a.message.contains("access check")
            }),
        "prod alone was refused, with the checker's explanation in prod's alert",
    );
    let jobs: Vec<usize> = [HOSTING, STAGING, PROD]
        .iter()
        .map(|a| stack.emulator.jobs_in(a).len())
        .collect();
    t.check(
        jobs == [2, 2, 1],
        "dev and staging imported the second version; prod did not",
    );
    Ok(())
}

/// Hands the upload queue's batches to the importer, each once more reversed; the
/// decisions, shown.
async fn deliver(
    t: &Timeline,
    stack: &LocalStack,
    importer: &mut LocalLambda,
    what: &str,
) -> Result<Vec<Value>> {
    let mut decisions = Vec::new();
    while let Some(batch) = stack.next_upload_batch(Duration::from_millis(500)).await? {
        let count = batch.event["Records"].as_array().map_or(0, Vec::len);
        t.step(
            "events",
            format!("{count} {what} → SQS ferry-uploads → importer, then again reversed"),
        );
        let mut again = batch.event.clone();
        let first = response(
            importer.invoke(batch.event.clone(), CALL).await?,
            "importer",
        )?;
        stack.acknowledge(&batch, &first).await?;
        if let Some(records) = again["Records"].as_array_mut() {
            records.reverse();
        }
        let second = response(importer.invoke(again, CALL).await?, "importer")?;
        for response in [first, second] {
            for decision in response["decisions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                t.step("importer", in_stage(&decision));
                decisions.push(decision);
            }
        }
    }
    Ok(decisions)
}

/// Sweeps stage `name` until its newest version is released; relays what its account
/// forwarded to the research account.
async fn verify(
    t: &mut Timeline,
    stack: &LocalStack,
    name: &str,
    tracker: &mut LocalLambda,
) -> Result<()> {
    let stage = stack.stage(name)?;
    let reports = stage
        .sweep_until(tracker, MODEL, ImportState::Released)
        .await?;
    for report in &reports {
        for (field, what) in [
            ("completed", "import completed"),
            ("verified", "verified: the model answered its smoke test"),
            ("released", "released"),
        ] {
            for model in report[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                t.step(name, format!("tracker: {model}: {what}"));
            }
        }
    }
    let relayed = stack.relay_promotions().await?;
    let states: Vec<&str> = relayed
        .iter()
        .filter_map(|e| e["detail"]["state"].as_str())
        .collect();
    t.step(
        "forward",
        format!(
            "{name}'s rule ferry-promotion-forward → research default bus → rule ferry-stage-promotions: {}\n(relayed by the local stack: moto re-stamps cross-account events)",
            states.join(", ")
        ),
    );
    t.check(
        !relayed.is_empty(),
        &format!("{name}'s verification reached the research account"),
    );
    Ok(())
}

/// `ferry promote MODEL --to prod`, the CLI binary; its decision.
async fn promote(t: &Timeline, stack: &LocalStack, reason: &str) -> Result<Value> {
    let (code, decision) = stack.promote_with_cli(MODEL, "prod", reason).await?;
    t.step(
        "promote",
        format!(
            "ferry promote {MODEL} --to prod --reason {reason:?} (exit {code})\n{}",
            first_lines(&in_stage(&decision), 6)
        ),
    );
    Ok(decision)
}

/// A decision with its stage first.
fn in_stage(decision: &Value) -> String {
    match decision["stage"].as_str() {
        Some(stage) => format!("[{stage}] {}", describe_decision(decision)),
        None => describe_decision(decision),
    }
}
