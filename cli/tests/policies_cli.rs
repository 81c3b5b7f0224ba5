//! `ferry policies`: the printed documents, installed as printed, pass `ferry check`;
//! the partition follows the region; bad input exits 2 naming the flag.

use assert_cmd::Command;
use serde_json::{json, Value};

const RESEARCH_KEY: &str =
    "arn:aws:kms:us-east-1:111122223333:key/b5b6e052-fb27-4dbb-bf0d-daf3375a9fda";
const IMPORTED_KEY: &str =
    "arn:aws:kms:us-east-1:777788889999:key/6cd5d3bf-3d9b-4d1c-83d5-8df6284435a1";

fn ferry(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("ferry")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

fn chain_args(region: &str) -> Vec<String> {
    [
        "policies",
        "--research-account",
        "111122223333",
        "--hosting-account",
        "777788889999",
        "--bucket",
        "model-artifacts-111122223333",
        "--prefix",
        "mistral",
        "--region",
        region,
    ]
    .map(String::from)
    .to_vec()
}

fn documents(out: &std::process::Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut by_id = serde_json::Map::new();
    for doc in set["documents"].as_array().unwrap() {
        by_id.insert(
            doc["id"].as_str().unwrap().to_owned(),
            doc["document"].clone(),
        );
    }
    Value::Object(by_id)
}

fn key_policy(account: &str, statement: &Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "EnableIamPolicies", "Effect": "Allow",
         "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "kms:*", "Resource": "*"},
        statement
    ]})
}

#[test]
fn printed_documents_installed_as_printed_pass_ferry_check() {
    let mut args = chain_args("us-east-1");
    args.extend(
        [
            "--research-kms-key",
            RESEARCH_KEY,
            "--imported-model-kms-key",
            IMPORTED_KEY,
            "--ferry-roles",
            "--external-id",
            "ferry-demo",
            "--format",
            "json",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let docs = documents(&ferry(&args));
    let scenario = json!({
        "region": "us-east-1",
        "source_uri": "s3://model-artifacts-111122223333/mistral/7b-v0.3/",
        "research_account": "111122223333",
        "hosting_account": "777788889999",
        "bucket_policy": docs["bucket-policy"],
        "objects": [
            {"key": "mistral/7b-v0.3/config.json", "kms_key_arn": null},
            {"key": "mistral/7b-v0.3/model.safetensors", "kms_key_arn": RESEARCH_KEY}
        ],
        "source_keys": [{"arn": RESEARCH_KEY, "policy": key_policy("111122223333", &docs["research-key-statement"])}],
        "execution_role": {
            "arn": "arn:aws:iam::777788889999:role/FerryBedrockImportExecution",
            "trust_policy": docs["execution-role-trust"],
            "inline_policies": {"ferry": docs["execution-role-policy"]},
        },
        "imported_model_key": {"arn": IMPORTED_KEY, "policy": key_policy("777788889999", &docs["imported-model-key-statement"])},
        "caller": {
            "arn": "arn:aws:iam::777788889999:role/FerryAutomation",
            "inline_policies": {"ferry": docs["automation-role-policy"]},
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&scenario).unwrap()).unwrap();
    let out = ferry(&[
        "check",
        "--scenario",
        path.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let allowed = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["decision"] == "allowed")
        .count();
    assert_eq!(
        allowed,
        report["checks"].as_array().unwrap().len(),
        "{report:#}"
    );
}

#[test]
fn the_partition_follows_the_region_and_govcloud_is_warned() {
    let mut args = chain_args("us-gov-west-1");
    args.extend(["--format", "json"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ferry(&args);
    let set: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(set["partition"], "aws-us-gov");
    let text = serde_json::to_string(&set["documents"]).unwrap();
    assert!(!text.contains("arn:aws:"), "{text}");
    assert!(text.contains("arn:aws-us-gov:bedrock:us-gov-west-1:777788889999:model-import-job/*"));
    assert!(set["warnings"][0]
        .as_str()
        .unwrap()
        .contains("not offered in us-gov-west-1"));

    let out = ferry(&[
        "policies",
        "--region",
        "cn-north-1",
        "--deny-inference",
        "meta.llama3-8b-instruct-v1:0",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("arn:aws-cn:bedrock:*::foundation-model/meta.llama3-8b-instruct-v1:0"));
}

/// `ferry policies --customization-role` reading s3://training-data/sets/, plus `extra`.
fn customization(extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "policies",
        "--customization-role",
        "--research-account",
        "111122223333",
        "--region",
        "us-west-2",
        "--bucket",
        "training-data",
        "--prefix",
        "sets",
    ];
    args.extend_from_slice(extra);
    ferry(&args)
}

#[test]
fn the_customization_role_prints_trust_and_data_access() {
    let out = customization(&[
        "--output-bucket",
        "tuned-models",
        "--output-prefix",
        "out",
        "--format",
        "json",
    ]);
    let docs = documents(&out);
    assert_eq!(
        docs["customization-role-trust"]["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"],
        "arn:aws:bedrock:us-west-2:111122223333:model-customization-job/*"
    );
    assert_eq!(
        docs["customization-role-policy"]["Statement"][1]["Resource"],
        "arn:aws:s3:::training-data/sets/*"
    );
    assert_eq!(
        docs["customization-role-policy"]["Statement"][3]["Resource"],
        "arn:aws:s3:::tuned-models/out/*"
    );
    // Output inside the training data, or no output folder at all: refused.
    for output in [["--output-prefix", "sets/out"], ["--output-prefix", ""]] {
        let out = customization(&output);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--output-prefix"));
    }
    // No --prefix is not the whole bucket: "" must be said.
    let out = ferry(&[
        "policies",
        "--customization-role",
        "--research-account",
        "111122223333",
        "--region",
        "us-west-2",
        "--bucket",
        "training-data",
        "--output-prefix",
        "out",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--prefix is required"));
    // Flags of another mode are refused, not ignored.
    let out = ferry(&[
        "policies",
        "--region",
        "us-east-1",
        "--deny-inference",
        "m",
        "--bucket",
        "b-b-b",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let mut args = chain_args("us-east-1");
    args.extend(["--external-id", "x-y-z"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(
        ferry(&args).status.code(),
        Some(2),
        "--external-id without --ferry-roles"
    );
}

#[test]
fn bad_input_exits_2_naming_the_flag() {
    for (extra, flag) in [
        (
            vec!["--research-kms-key", "alias/weights"],
            "--research-kms-key",
        ),
        (
            vec!["--imported-model-kms-key", RESEARCH_KEY],
            "--imported-model-kms-key",
        ),
        (
            vec!["--execution-role-name", "a/b"],
            "--execution-role-name",
        ),
    ] {
        let mut args = chain_args("us-east-1");
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ferry(&args);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(flag) && stderr.lines().count() == 1,
            "{stderr}"
        );
    }
    let out = ferry(&["policies", "--region", "us-east-1", "--bucket", "b-b-b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--research-account is required"));
    let out = ferry(&["policies", "--region", "Virginia", "--deny-inference", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--region"));
    let out = ferry(&[
        "policies",
        "--region",
        "us-east-1",
        "--deny-inference",
        "meta.*",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

const STAGES: [(&str, &str); 3] = [
    ("dev", "444455556666"),
    ("staging", "777788889999"),
    ("prod", "222233334444"),
];

fn staged_args(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "policies",
        "--research-account",
        "111122223333",
        "--bucket",
        "model-artifacts-111122223333",
        "--prefix",
        "mistral",
        "--region",
        "us-east-1",
    ]
    .map(String::from)
    .to_vec();
    for (name, account) in STAGES {
        args.extend(["--stage".to_owned(), format!("{name}={account}")]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Each stage's execution role, with the documents printed for it, passes `ferry check`
/// against the one bucket policy and research key statement printed for all stages.
#[test]
fn every_stage_installed_as_printed_passes_ferry_check() {
    let args = staged_args(&[
        "--research-kms-key",
        RESEARCH_KEY,
        "--imported-model-kms-key",
        IMPORTED_KEY,
        "--ferry-roles",
        "--external-id",
        "ferry-demo",
        "--format",
        "json",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ferry(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set: Value = serde_json::from_slice(&out.stdout).unwrap();
    let docs = set["documents"].as_array().unwrap();
    let find = |id: &str, stage: Option<&str>| {
        docs.iter()
            .find(|d| d["id"] == id && d["stage"].as_str() == stage)
            .map(|d| d["document"].clone())
            .unwrap_or_else(|| panic!("{id} {stage:?}"))
    };
    assert!(docs.iter().any(|d| d["id"] == "promotion-bus-policy"));
    let dir = tempfile::tempdir().unwrap();
    for (name, account) in STAGES {
        let with_key = account == "777788889999";
        let mut scenario = json!({
            "region": "us-east-1",
            "source_uri": "s3://model-artifacts-111122223333/mistral/7b-v0.3/",
            "research_account": "111122223333",
            "hosting_account": account,
            "bucket_policy": find("bucket-policy", None),
            "objects": [{"key": "mistral/7b-v0.3/model.safetensors", "kms_key_arn": RESEARCH_KEY}],
            "source_keys": [{"arn": RESEARCH_KEY, "policy": key_policy("111122223333", &find("research-key-statement", None))}],
            "execution_role": {
                "arn": format!("arn:aws:iam::{account}:role/FerryBedrockImportExecution"),
                "trust_policy": find("execution-role-trust", Some(name)),
                "inline_policies": {"ferry": find("execution-role-policy", Some(name))},
            },
            "caller": {
                "arn": format!("arn:aws:iam::{account}:role/FerryAutomation"),
                "inline_policies": {"ferry": find("automation-role-policy", Some(name))},
            }
        });
        if with_key {
            scenario["imported_model_key"] = json!({"arn": IMPORTED_KEY, "policy": key_policy(account, &find("imported-model-key-statement", Some(name)))});
        }
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&scenario).unwrap()).unwrap();
        let out = ferry(&[
            "check",
            "--scenario",
            path.to_str().unwrap(),
            "--format",
            "json",
        ]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {report:#}");
    }
}

#[test]
fn text_labels_each_stages_documents() {
    let args = staged_args(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ferry(&args);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("Partition aws, region us-east-1: 7 document(s)."),
        "{text}"
    );
    for (name, account) in STAGES {
        assert!(
            text.contains(&format!("execution-role-trust (hosting account {account}, stage {name}, role FerryBedrockImportExecution)")),
            "{text}"
        );
    }
}

#[test]
fn bad_stages_exit_2_saying_what_is_wrong() {
    let six: Vec<String> = (0..6)
        .flat_map(|i| ["--stage".to_owned(), format!("s{i}=10000000000{i}")])
        .collect();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--stage".into(), "dev".into()], "is not NAME=ID"),
        (
            vec!["--stage".into(), "Dev=100000000001".into()],
            "is not a stage name",
        ),
        (
            vec!["--stage".into(), "dev=100000000001".into()],
            "named twice",
        ),
        (
            vec!["--stage".into(), "qa=444455556666".into()],
            "its own hosting account",
        ),
        (vec!["--stage".into(), "qa=1234".into()], "12-digit"),
        (six, "5 at most"),
        (
            vec!["--imported-model-kms-key".into(), RESEARCH_KEY.into()],
            "no key of a stage's account",
        ),
        (
            vec!["--hosting-account".into(), "777788889999".into()],
            "cannot be used with",
        ),
    ];
    for (extra, says) in cases {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let args = staged_args(&extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ferry(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{says}: {stderr}");
        assert!(stderr.contains(says), "{says}: {stderr}");
        let flag = if says == "cannot be used with" {
            "--hosting-account"
        } else {
            "--"
        };
        assert!(stderr.contains(flag), "{stderr}");
    }
}
