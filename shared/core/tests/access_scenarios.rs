//! The scenario corpus (`shared/testkit/scenarios/`): the seed's procedure and one mutation per
//! kind of mistake, each with the decision AWS's evaluation logic gives every check.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferry_core::access::{run_checks, CheckDecision, Scenario};
use serde_json::Value;

/// The checks' `aws:CurrentTime`: a fixed instant (2026-11-18), so runs agree.
const NOW: u64 = 1_795_000_000;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testkit/scenarios")
}

fn load(name: &str) -> Scenario {
    let text = std::fs::read_to_string(corpus().join(format!("{name}.json"))).unwrap();
    Scenario::parse(&serde_json::from_str(&text).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Per check id: denied if any of its requests is denied.
fn decisions(scenario: &Scenario) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for check in run_checks(scenario, NOW).checks {
        let decision = match check.decision {
            CheckDecision::Allowed => "allowed",
            CheckDecision::Denied => "denied",
            CheckDecision::Skipped => "skipped",
        };
        let entry = out
            .entry(check.id.to_owned())
            .or_insert_with(|| decision.to_owned());
        if decision == "denied" {
            *entry = "denied".into();
        }
    }
    out
}

#[test]
fn every_scenario_decides_as_expected() {
    let expected: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("expected.json")).unwrap())
            .unwrap();
    assert!(
        expected.len() >= 30,
        "the corpus has {} scenarios",
        expected.len()
    );
    let mut failures = Vec::new();
    for (name, want) in &expected {
        let got = decisions(&load(name));
        if &got != want {
            let diff: Vec<String> = want
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(v))
                .map(|(k, v)| {
                    format!(
                        "{k}: expected {v}, got {}",
                        got.get(k).map(String::as_str).unwrap_or("nothing")
                    )
                })
                .collect();
            failures.push(format!("{name}: {}", diff.join("; ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn denials_name_the_policy_and_the_statement_to_add() {
    let report = run_checks(&load("source-key-missing-grant"), NOW);
    let denied: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.decision == CheckDecision::Denied)
        .collect();
    assert_eq!(denied.len(), 1);
    let check = denied[0];
    assert_eq!(
        (check.id, check.reason),
        ("kms-source", Some("implicit-deny"))
    );
    let fix = check.fix.as_ref().unwrap();
    assert_eq!(
        fix.location,
        "key policy of arn:aws:kms:us-east-1:111122223333:key/b5b6e052-fb27-4dbb-bf0d-daf3375a9fda"
    );
    assert_eq!(
        fix.statement["Principal"]["AWS"],
        "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999"
    );
    assert_eq!(
        fix.statement["Condition"]["StringEquals"]["kms:ViaService"],
        "s3.us-east-1.amazonaws.com"
    );

    let report = run_checks(&load("scp-denies-kms-decrypt"), NOW);
    let check = report.checks.iter().find(|c| c.id == "kms-source").unwrap();
    assert_eq!(check.reason, Some("explicit-deny"));
    assert!(check.fix.is_none());
    assert!(
        check
            .matched
            .iter()
            .all(|m| m.effect == "Deny" && m.policy.starts_with("SCP level 1")),
        "{:?}",
        check.matched
    );

    let report = run_checks(&load("baseline"), NOW);
    let s3_list = report.checks.iter().find(|c| c.id == "s3-list").unwrap();
    let sids: Vec<&str> = s3_list.matched.iter().map(|m| m.sid.as_str()).collect();
    assert_eq!(
        sids,
        ["1", "cross-account-list-get"],
        "an allowed check names its Allow statements"
    );
}

/// Every fix, applied to the policy it names, makes its check pass.
#[test]
fn applying_each_fix_makes_its_check_pass() {
    let expected: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("expected.json")).unwrap())
            .unwrap();
    for name in expected.keys() {
        let raw: Value = serde_json::from_str(
            &std::fs::read_to_string(corpus().join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        for check in run_checks(&Scenario::parse(&raw).unwrap(), NOW).checks {
            let Some(fix) = check.fix else { continue };
            let mut patched = raw.clone();
            if !apply(&mut patched, &fix.location, fix.statement.clone()) {
                continue; // a boundary or SCP fix: covered by the engine's tests
            }
            let after = run_checks(&Scenario::parse(&patched).unwrap(), NOW);
            let same = after
                .checks
                .iter()
                .find(|c| {
                    c.id == check.id && c.action == check.action && c.resource == check.resource
                })
                .unwrap();
            // Another policy may still lack its half (cross-account needs both).
            if same.decision == CheckDecision::Denied {
                assert_ne!(
                    same.fix.as_ref().map(|f| &f.location),
                    Some(&fix.location),
                    "{name}/{}: the fix did not help",
                    check.id
                );
            }
        }
    }
}

fn apply(scenario: &mut Value, location: &str, statement: Value) -> bool {
    let target = if location.starts_with("bucket policy") {
        if scenario["bucket_policy"].is_null() {
            scenario["bucket_policy"] =
                serde_json::json!({"Version": "2012-10-17", "Statement": []});
        }
        &mut scenario["bucket_policy"]
    } else if location.starts_with("trust policy") {
        &mut scenario["execution_role"]["trust_policy"]
    } else if let Some(key) = location.strip_prefix("key policy of ") {
        if scenario["imported_model_key"]["arn"] == key {
            &mut scenario["imported_model_key"]["policy"]
        } else {
            let keys = scenario["source_keys"].as_array_mut().unwrap();
            &mut keys.iter_mut().find(|k| k["arn"] == key).unwrap()["policy"]
        }
    } else if let Some(arn) = location.strip_prefix("identity policy of ") {
        let who = if scenario["execution_role"]["arn"] == arn {
            "execution_role"
        } else {
            "caller"
        };
        scenario[who]["inline_policies"]["ferry-fix"] =
            serde_json::json!({"Version": "2012-10-17", "Statement": []});
        &mut scenario[who]["inline_policies"]["ferry-fix"]
    } else {
        return false;
    };
    let statements = &mut target["Statement"];
    if !statements.is_array() {
        *statements = Value::Array(vec![statements.clone()]);
    }
    statements.as_array_mut().unwrap().push(statement);
    true
}

/// A folder named with `*`, `?` or `$`: the printed fixes grant that folder only,
/// written with `${*}`-style escapes, and still make their checks pass.
#[test]
fn fixes_for_a_folder_with_wildcard_characters_grant_only_that_folder() {
    let raw: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("baseline.json")).unwrap())
            .unwrap();
    let folder = |raw: &Value, folder: &str| {
        let mut scenario = raw.clone();
        scenario["source_uri"] = format!("s3://model-artifacts-111122223333/{folder}").into();
        for object in scenario["objects"].as_array_mut().unwrap() {
            let key = object["key"]
                .as_str()
                .unwrap()
                .replace("mistral-model-weights/", folder);
            object["key"] = key.into();
        }
        scenario
    };
    let mut odd = folder(&raw, "mist*?$/");
    odd["bucket_policy"] = Value::Null;
    let report = run_checks(&Scenario::parse(&odd).unwrap(), NOW);
    let fixes: Vec<&Value> = report
        .checks
        .iter()
        .filter(|c| c.id.starts_with("s3-"))
        .filter_map(|c| c.fix.as_ref().map(|f| &f.statement))
        .collect();
    assert!(fixes.len() >= 2, "{fixes:?}");
    let notes = report
        .checks
        .iter()
        .filter(|c| c.id.starts_with("s3-"))
        .filter_map(|c| c.fix.as_ref());
    for fix in notes {
        let note = fix.note.as_deref().unwrap_or_default();
        assert!(note.contains("2012-10-17"), "{fix:?}");
    }
    let escaped = "mist${*}${?}${$}/";
    for fix in &fixes {
        let text = fix.to_string();
        assert!(text.contains(escaped), "{text}");
        assert!(
            !text.contains("mist*"),
            "a wildcard slipped through: {text}"
        );
    }
    let list = fixes
        .iter()
        .find(|f| f["Action"] == "s3:ListBucket")
        .unwrap();
    assert_eq!(
        list["Condition"]["StringLike"]["s3:prefix"],
        serde_json::json!([escaped, format!("{escaped}*")])
    );
    for check in report.checks.iter().filter(|c| c.id.starts_with("s3-")) {
        if let Some(fix) = &check.fix {
            assert!(apply(&mut odd, &fix.location, fix.statement.clone()));
        }
    }
    let after = decisions(&Scenario::parse(&odd).unwrap());
    assert_eq!(after["s3-list"], "allowed");
    assert_eq!(after["s3-get"], "allowed");
    // The same grants do not reach a neighbouring folder.
    let mut neighbour = folder(&raw, "mistral/");
    neighbour["bucket_policy"] = odd["bucket_policy"].clone();
    let beside = decisions(&Scenario::parse(&neighbour).unwrap());
    assert_eq!(beside["s3-list"], "denied");
    assert_eq!(beside["s3-get"], "denied");
}
