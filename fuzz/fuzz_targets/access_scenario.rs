//! Any bytes as a scenario file, and any JSON as a policy placed in the seed's chain:
//! parsing and evaluation must never panic, and a report's `ok` must match its checks.
#![no_main]

use ferry_core::access::{run_checks, CheckDecision, Scenario};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const BASELINE: &str = include_str!("../../shared/testkit/scenarios/baseline.json");

fuzz_target!(|input: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(input) else { return };
    // The input as a whole scenario.
    if let Ok(scenario) = Scenario::parse(&value) {
        check(&scenario);
    }
    // The input as each policy of an otherwise valid chain.
    let base: Value = serde_json::from_str(BASELINE).expect("the baseline is JSON");
    for path in [
        &["bucket_policy"][..],
        &["execution_role", "trust_policy"],
        &["execution_role", "permissions_boundary"],
        &["imported_model_key", "policy"],
        &["scps", "777788889999"],
    ] {
        let mut scenario = base.clone();
        let mut slot = &mut scenario;
        for key in path {
            slot = &mut slot[*key];
        }
        *slot = value.clone();
        if let Ok(scenario) = Scenario::parse(&scenario) {
            check(&scenario);
        }
    }
});

fn check(scenario: &Scenario) {
    let report = run_checks(scenario, 1_795_000_000);
    let denied = report.checks.iter().any(|c| c.decision == CheckDecision::Denied);
    assert_eq!(report.ok, !denied);
    let _ = serde_json::to_string(&report).expect("reports serialise");
    let _ = report.render_text(false);
}
