//! `ferry check --scenario` as other tools drive it: exit statuses, the JSON report,
//! the text report, one-line errors naming the file and the field.

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../shared/testkit/scenarios/{name}.json"))
}

fn check(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("ferry")
        .unwrap()
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_seed_procedure_passes_with_exit_0() {
    let path = scenario("baseline");
    let out = check(&["--scenario", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "trust",
            "s3-list",
            "s3-get",
            "s3-get",
            "kms-source",
            "kms-imported-model",
            "kms-imported-model",
            "kms-imported-model",
            "kms-imported-model",
            "pass-role",
            "create-job"
        ]
    );
    for check in report["checks"].as_array().unwrap() {
        assert_eq!(check["decision"], "allowed", "{check}");
        assert!(
            !check["matched"].as_array().unwrap().is_empty(),
            "an allowed check names its statements: {check}"
        );
        assert!(check["fix"].is_null());
    }
}

#[test]
fn a_denial_exits_1_with_reason_detail_and_fix() {
    let path = scenario("source-key-missing-grant");
    let out = check(&["--scenario", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let denied: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["decision"] == "denied")
        .collect();
    assert_eq!(denied.len(), 1);
    let kms = denied[0];
    assert_eq!(kms["id"], "kms-source");
    assert_eq!(kms["action"], "kms:Decrypt");
    assert_eq!(kms["reason"], "implicit-deny");
    assert!(kms["detail"]
        .as_str()
        .unwrap()
        .contains("key policy of arn:aws:kms:us-east-1:111122223333:key/"));
    assert_eq!(kms["fix"]["statement"]["Effect"], "Allow");
    assert!(kms["fix"]["where"]
        .as_str()
        .unwrap()
        .starts_with("key policy of"));

    let out = check(&["--scenario", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("✗ kms-source"), "{text}");
    assert!(text.contains("✓ trust"), "{text}");
    assert!(text.contains("add to the key policy of"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colors off a terminal");
}

#[test]
fn unusable_input_exits_2_naming_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let baseline: Value =
        serde_json::from_str(&std::fs::read_to_string(scenario("baseline")).unwrap()).unwrap();
    let mut no_role = baseline.clone();
    no_role.as_object_mut().unwrap().remove("execution_role");
    let mut bad_policy = baseline.clone();
    bad_policy["bucket_policy"]["Statement"][0]["Effect"] = "Perhaps".into();
    let mut unknown_key = baseline.clone();
    unknown_key["source_keys"] = Value::Array(vec![]);
    let cases = [
        (dir.path().join("missing.json"), "cannot be read"),
        (write("broken.json", "{"), "not JSON"),
        (
            write("no-role.json", &no_role.to_string()),
            "execution_role: is missing",
        ),
        (
            write("bad-policy.json", &bad_policy.to_string()),
            "bucket_policy.Statement[0].Effect",
        ),
        (
            write("unknown-key.json", &unknown_key.to_string()),
            "objects[1].kms_key_arn",
        ),
    ];
    for (path, expected) in cases {
        let out = check(&["--scenario", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expected}: {stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(path.file_name().unwrap().to_str().unwrap())
                && stderr.contains(expected),
            "{stderr}"
        );
    }
}
