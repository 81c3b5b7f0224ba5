//! `ferry-local-stack` (`scripts/local-stack`): Ferry's two accounts on this machine at
//! fixed addresses, for `cargo lambda watch` and `cargo lambda invoke`. moto plays
//! both accounts with the stacks of `infra/` created in it, the Bedrock emulator serves
//! the imports, and the model folders the payloads of `events/` name are uploaded.
//! Prints the endpoints and each function's environment, then runs until interrupted.

use anyhow::{Context, Result};
use ferry_local_stack::recipe::{self, FOLDERS};
use ferry_local_stack::LocalStack;

#[tokio::main]
async fn main() -> Result<()> {
    eprintln!(
        "local-stack: starting moto on 127.0.0.1:{} and the Bedrock emulator on 127.0.0.1:{}",
        recipe::MOTO_PORT,
        recipe::EMULATOR_PORT
    );
    let stack = LocalStack::start(recipe::options())
        .await
        .context("starting the local stack (scripts/setup installs moto)")?;
    let models = tempfile_dir()?;
    for (folder, family, shards) in FOLDERS {
        let dir = models.join(folder);
        ferry_testkit::fixtures::write_model(
            &dir,
            &ferry_testkit::families::family(family),
            shards,
        )?;
        let objects = stack.upload_model(folder, &dir).await?;
        println!(
            "uploaded s3://{}/{}{folder}/ ({} files, {family})",
            recipe::BUCKET,
            recipe::PREFIX,
            objects.len()
        );
    }
    let _ = std::fs::remove_dir_all(&models);
    println!(
        "moto (research {} and hosting {} accounts): http://127.0.0.1:{}",
        ferry_local_stack::RESEARCH,
        ferry_local_stack::HOSTING,
        recipe::MOTO_PORT
    );
    println!(
        "Bedrock emulator (control plane and InvokeModel): http://127.0.0.1:{}",
        recipe::EMULATOR_PORT
    );
    println!(
        "state-change events (rule {} on the hosting account's default bus): {}",
        ferry_local_stack::EVENTS_INBOX,
        stack.events_queue_url
    );
    for (function, env) in [
        ("ferry-importer", recipe::importer_env()),
        ("ferry-tracker", recipe::tracker_env()),
    ] {
        println!("{function} environment (functions/*/Cargo.toml, [package.metadata.lambda.env]):");
        for (key, value) in env {
            println!("  {key}={value}");
        }
    }
    println!("ready: run `cargo lambda watch` in another terminal; Ctrl-C stops the stack");
    wait_for_stop().await;
    eprintln!("local-stack: stopping");
    drop(stack);
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("ferry-local-stack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Ctrl-C or SIGTERM (a CI step's `kill`).
async fn wait_for_stop() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
