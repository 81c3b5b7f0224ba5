//! The access checker's speed, from the criterion bench `ferry-core/benches/
//! access_check.rs` (`scripts/bench` runs it first), per chain and per check.

use std::path::Path;

use anyhow::{Context, Result};
use ferry_core::access::{run_checks, Scenario};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
pub struct AccessCheck {
    pub scenarios: usize,
    pub checks_in_corpus: usize,
    pub checks_in_baseline: usize,
    pub baseline_chain_us: f64,
    pub corpus_pass_us: f64,
    pub chains_per_second: f64,
    pub per_check_us: f64,
}

/// Reads criterion's mean estimates under `criterion_dir` (`target/criterion`).
pub fn read(criterion_dir: &Path) -> Result<AccessCheck> {
    let mean_ns = |bench: &str| -> Result<f64> {
        let path = criterion_dir.join(format!("access_check/{bench}/new/estimates.json"));
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: run `cargo bench -p ferry-core --bench access_check` first",
                path.display()
            )
        })?;
        let v: Value = serde_json::from_str(&text)?;
        v["mean"]["point_estimate"]
            .as_f64()
            .with_context(|| format!("{}: no mean.point_estimate", path.display()))
    };
    let corpus = load()?;
    let now = ferry_aws::clock::now_secs();
    let checks = |s: &Scenario| run_checks(s, now).checks.len();
    let checks_in_corpus: usize = corpus.iter().map(|(_, s)| checks(s)).sum();
    let checks_in_baseline = corpus
        .iter()
        .find(|(name, _)| name == "baseline.json")
        .map(|(_, s)| checks(s))
        .context("no baseline.json in the corpus")?;
    let baseline_ns = mean_ns("baseline")?;
    let corpus_ns = mean_ns("corpus")?;
    Ok(AccessCheck {
        scenarios: corpus.len(),
        checks_in_corpus,
        checks_in_baseline,
        baseline_chain_us: baseline_ns / 1e3,
        corpus_pass_us: corpus_ns / 1e3,
        chains_per_second: corpus.len() as f64 / (corpus_ns / 1e9),
        per_check_us: corpus_ns / 1e3 / checks_in_corpus as f64,
    })
}

fn load() -> Result<Vec<(String, Scenario)>> {
    ferry_testkit::scenarios::corpus()?
        .into_iter()
        .map(|(name, value)| {
            let scenario = Scenario::parse(&value).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            Ok((name, scenario))
        })
        .collect()
}
