//! Times whole-chain access checks in process: `cargo run --release -p ferry-core
//! --example chain_speed [SCENARIO.json]` (default: the seed's baseline).

use std::time::Instant;

use ferry_core::access::{run_checks, Scenario};

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        format!(
            "{}/../../tests/scenarios/baseline.json",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let scenario = Scenario::parse(&value).unwrap_or_else(|e| panic!("{path}: {e}"));
    let checks = run_checks(&scenario).checks.len();
    let rounds = 20_000;
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(run_checks(std::hint::black_box(&scenario)));
    }
    let per_chain = start.elapsed() / rounds;
    println!(
        "{path}: {checks} checks per chain, {per_chain:?} per chain ({:.0} chains/s, {:?} per check)",
        1.0 / per_chain.as_secs_f64(),
        per_chain / checks as u32
    );
}
