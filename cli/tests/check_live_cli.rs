//! `ferry check` live mode as a process against moto on loopback: the seed's chain in
//! two accounts, read with the caller's and the hosting role's credentials.

use assert_cmd::Command;
use ferry_testkit::chain::{install_chain, Chain, Mistake, AUTOMATION_ROLE, EXECUTION_ROLE};
use ferry_testkit::moto::MotoServer;
use serde_json::Value;

fn ferry(moto: &MotoServer) -> Command {
    let mut cmd = Command::cargo_bin("ferry").unwrap();
    cmd.env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    cmd
}

fn live_args(chain: &Chain) -> Vec<String> {
    [
        "check",
        "--source",
        &chain.source_uri,
        "--execution-role",
        EXECUTION_ROLE,
        "--imported-model-kms-key",
        &chain.imported_model_key,
        "--hosting-role",
        AUTOMATION_ROLE,
        "--external-id",
        "ferry-test",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn installed(mistake: Mistake) -> (MotoServer, Chain) {
    let moto = MotoServer::start().unwrap();
    let chain = install_chain(&moto, mistake).await.unwrap();
    (moto, chain)
}

#[tokio::test]
async fn the_seed_chain_read_live_passes_with_exit_0() {
    let (moto, chain) = installed(Mistake::None).await;
    let out = ferry(&moto)
        .args(live_args(&chain))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 11);
    assert!(
        checks.iter().all(|c| c["decision"] == "allowed"),
        "{report:#}"
    );
    let kms = checks.iter().find(|c| c["id"] == "kms-source").unwrap();
    assert_eq!(kms["resource"], chain.source_key.as_str());
    assert!(report.get("unreadable").is_none());
}

#[tokio::test]
async fn a_broken_key_policy_exits_1_and_the_probe_reports_the_disagreement() {
    let (moto, chain) = installed(Mistake::SourceKeyLacksRole).await;
    let out = ferry(&moto)
        .args(live_args(&chain))
        .arg("--probe")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("✗ kms-source"), "{text}");
    assert!(
        text.contains(&format!("add to the key policy of {}", chain.source_key)),
        "{text}"
    );
    // moto enforces no key policy, so the execution role really reads the object.
    assert!(text.contains("probe as arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999: 3 of 3 request(s) succeeded; 1 disagree(s)"), "{text}");
    assert!(text.contains("≠ s3-get"), "{text}");
}

#[tokio::test]
async fn unreadable_policies_are_named_and_exit_2() {
    // Without --hosting-role the research credentials cannot read the hosting
    // account's role and key: Ferry says so instead of guessing.
    let (moto, chain) = installed(Mistake::None).await;
    let args = &live_args(&chain)[..7];
    let out = ferry(&moto)
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("could not read the role arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999: NoSuchEntity (iam:GetRole)"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true, "no check is denied");
    let trust = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "trust")
        .unwrap();
    assert_eq!(trust["decision"], "skipped");
    assert!(trust["unreadable"]
        .as_str()
        .unwrap()
        .contains("NoSuchEntity"));
    assert!(
        report["unreadable"].as_array().unwrap().len() >= 3,
        "{report:#}"
    );
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let moto = MotoServer::start().unwrap();
    for (args, expected) in [
        (
            vec![
                "--source",
                "s3://b/p/",
                "--execution-role",
                "arn:aws:iam::777788889999:user/x",
            ],
            "--execution-role",
        ),
        (
            vec![
                "--source",
                "http://b/p/",
                "--execution-role",
                EXECUTION_ROLE,
            ],
            "--source",
        ),
        (
            vec![
                "--source",
                "s3://b/p/",
                "--execution-role",
                EXECUTION_ROLE,
                "--imported-model-kms-key",
                "alias/x",
            ],
            "--imported-model-kms-key",
        ),
    ] {
        let out = ferry(&moto).arg("check").args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // A hosting role without its external id is refused by the parser.
    let out = ferry(&moto)
        .args([
            "check",
            "--source",
            "s3://b/p/",
            "--execution-role",
            EXECUTION_ROLE,
            "--hosting-role",
            AUTOMATION_ROLE,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--external-id"));
}
