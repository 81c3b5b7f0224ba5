//! The README's local-run recipe: the local stack at fixed addresses, so that the
//! functions' committed `cargo lambda watch` environment (`[package.metadata.lambda.env]`
//! in `functions/importer/Cargo.toml` and `functions/tracker/Cargo.toml`) reaches it,
//! with the bucket, folders and names of the sample payloads in `events/`.

use std::time::Duration;

use ferry_core::policies::Deployment;

use crate::{
    endpoint_env, importer_settings, tracker_settings, Options, HOSTING, REGION, RESEARCH,
};

/// moto (both accounts) on `127.0.0.1:MOTO_PORT`.
pub const MOTO_PORT: u16 = 9461;
/// The Bedrock Custom Model Import emulator (and CloudWatch's GetMetricStatistics).
pub const EMULATOR_PORT: u16 = 9462;
/// The bucket and watched folder of `events/`.
pub const BUCKET: &str = "model-artifacts-111122223333";
pub const PREFIX: &str = "fine-tunes/";
/// The shared config file holding the tracker's profile (relative to the repository
/// root, where `cargo lambda watch` runs).
pub const AWS_CONFIG_FILE: &str = "tools/local-stack/aws-config";
/// The profile there: the tracker's role in the hosting account, assumed through moto.
pub const TRACKER_PROFILE: &str = "ferry-local-tracker";

/// The model folders the events of `events/` name: (folder, family, shards).
pub const FOLDERS: [(&str, &str, usize); 3] = [
    ("llama-3.1-8b-ft(v2)", "llama-3.1", 4),
    ("qwen3-8b-support", "qwen3", 1),
    ("mistral-7b-legal", "mistral", 2),
];

/// The local stack's options for the recipe: fixed ports, the events' bucket and folder,
/// imports that take a few seconds.
pub fn options() -> Options {
    Options {
        job_duration: Duration::from_secs(3),
        bucket: BUCKET.to_owned(),
        prefix: PREFIX.to_owned(),
        moto_port: Some(MOTO_PORT),
        emulator_port: EMULATOR_PORT,
        ..Options::default()
    }
}

/// The deployment the recipe's stack serves (the stacks' default names).
pub fn deployment() -> Deployment {
    Deployment::new(RESEARCH, HOSTING, REGION, BUCKET, PREFIX)
}

/// Both functions' endpoints: the stack at its fixed addresses.
fn endpoints() -> Vec<(&'static str, String)> {
    endpoint_env(
        &format!("http://127.0.0.1:{MOTO_PORT}"),
        &format!("http://127.0.0.1:{EMULATOR_PORT}"),
    )
}

/// The importer's environment: the research account's credentials (moto's default
/// account), the hosting stack's names.
pub fn importer_env() -> Vec<(&'static str, String)> {
    let mut env = endpoints();
    env.extend([
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ]);
    env.extend(importer_settings(&deployment()));
    env
}

/// The tracker's environment: the tracker role in the hosting account, through the
/// profile in [`AWS_CONFIG_FILE`] (moto's STS gives its credentials).
pub fn tracker_env() -> Vec<(&'static str, String)> {
    let mut env = endpoints();
    env.extend([
        ("AWS_CONFIG_FILE", AWS_CONFIG_FILE.to_owned()),
        ("AWS_PROFILE", TRACKER_PROFILE.to_owned()),
    ]);
    env.extend(tracker_settings(&deployment()));
    env
}

/// `[package.metadata.lambda.env]` of a function's `Cargo.toml`, read line by line
/// (`KEY = "value"`): what `cargo lambda watch` gives the function.
pub fn committed_env(cargo_toml: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let mut inside = false;
    for line in cargo_toml.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[package.metadata.lambda.env]";
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            env.push((
                key.trim().to_owned(),
                value.trim().trim_matches('"').to_owned(),
            ));
        }
    }
    env
}
