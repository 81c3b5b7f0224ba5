//! `ferry validate` as other tools drive it: exit statuses, the JSON shape, stderr.

use std::path::Path;

use assert_cmd::Command;
use ferry_testkit::families::family;
use ferry_testkit::fixtures::{write_llama_3_1_8b_sparse, write_model};
use serde_json::Value;

fn ferry() -> Command {
    let mut cmd = Command::cargo_bin("ferry").unwrap();
    // Never reach for real credentials or endpoints from a developer's environment.
    for var in [
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn validate_json(dir: &Path) -> (i32, Value) {
    let out = ferry()
        .args(["validate", "--format", "json"])
        .arg(dir)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap(), json)
}

#[test]
fn a_valid_folder_exits_0_with_the_contract_json() {
    let dir = tempfile::tempdir().unwrap();
    write_llama_3_1_8b_sparse(dir.path()).unwrap();
    let (code, json) = validate_json(dir.path());
    assert_eq!(code, 0);
    let object = json.as_object().unwrap();
    for (key, kind) in [
        ("ok", "bool"),
        ("source", "string"),
        ("architecture", "string"),
        ("model_type", "string"),
        ("files", "number"),
        ("total_bytes", "number"),
        ("bytes_read", "number"),
        ("findings", "array"),
    ] {
        let value = &object[key];
        let matches = match kind {
            "bool" => value.is_boolean(),
            "string" => value.is_string(),
            "number" => value.is_u64(),
            _ => value.is_array(),
        };
        assert!(matches, "{key} should be a {kind}: {value}");
    }
    assert_eq!(json["ok"], true);
    assert_eq!(json["architecture"], "LlamaForCausalLM");
    assert_eq!(json["model_type"], "llama");
    assert_eq!(json["files"], 10);
    assert!(json["total_bytes"].as_u64().unwrap() > 16_000_000_000);
    assert!(
        json["bytes_read"].as_u64().unwrap() < 100_000,
        "headers only"
    );
    assert_eq!(json["findings"], serde_json::json!([]));
}

#[test]
fn errors_exit_1_and_every_finding_has_the_contract_fields() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("qwen3-classifier"), 2).unwrap();
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let (code, json) = validate_json(dir.path());
    assert_eq!(code, 1);
    assert_eq!(json["ok"], false);
    let findings = json["findings"].as_array().unwrap();
    let codes: Vec<&str> = findings
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["unsupported-architecture", "incomplete-shards"]);
    for f in findings {
        let mut keys: Vec<&String> = f.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["code", "file", "message", "severity"]);
        assert_eq!(f["severity"], "error");
    }
    assert_eq!(findings[1]["file"], "model.safetensors.index.json");
}

#[test]
fn warnings_alone_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("gpt-oss"), 1).unwrap();
    let (code, json) = validate_json(dir.path());
    assert_eq!(code, 0);
    assert_eq!(json["findings"][0]["severity"], "warning");
}

#[test]
fn an_empty_folder_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (code, json) = validate_json(dir.path());
    assert_eq!(code, 1);
    assert_eq!(json["files"], 0);
}

#[test]
fn unusable_input_exits_2_with_one_line_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(&file, "{}").unwrap();
    let missing = dir.path().join("missing");
    let cases: Vec<(Vec<&std::ffi::OsStr>, &str)> = vec![
        (vec![missing.as_os_str()], "no such file or folder"),
        (vec![file.as_os_str()], "not a folder"),
        (vec!["gs://bucket/model/".as_ref()], "gs:// URI"),
        (vec!["s3:///model/".as_ref()], "names no bucket"),
    ];
    for (args, expected) in cases {
        let out = ferry().arg("validate").args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let out = ferry()
        .args(["validate", "--format", "yaml", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_forged_path_cannot_forge_lines_on_stderr() {
    let forged = "/nowhere/x\n✔ Ready for Amazon Bedrock Custom Model Import\x1b[8m";
    let out = ferry().args(["validate", forged]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
    assert!(stderr.contains("x\\n✔ Ready"), "{stderr}");
}

#[test]
fn text_output_is_for_people_and_stderr_stays_quiet_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("mistral"), 3).unwrap();
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    std::fs::remove_file(dir.path().join("tokenizer.model")).unwrap();
    let out = ferry().arg("validate").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "Architecture  MistralForCausalLM (Mistral, model_type mistral)",
        "in 3 weight file(s)",
        "✖ error    missing-tokenizer",
        "1 error(s)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(
        out.stderr.is_empty(),
        "no progress bar off a terminal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

mod s3 {
    use super::*;
    use ferry_testkit::moto::MotoServer;
    use ferry_testkit::s3::{create_bucket, upload_dir};

    fn ferry_on(moto: &MotoServer) -> Command {
        let mut cmd = ferry();
        cmd.env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        cmd
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn validates_s3_folders_through_the_standard_config_chain() {
        let moto = MotoServer::start().unwrap();
        let config = moto.sdk_config().await;
        let s3 = ferry_aws::s3_client(&config);
        create_bucket(&s3, "research-models").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_model(dir.path(), &family("llama-3.1"), 2).unwrap();
        upload_dir(
            &s3,
            "research-models",
            "fine-tunes/llama-3.1-ft/",
            dir.path(),
        )
        .await
        .unwrap();
        upload_dir(&s3, "research-models", "fine tunes/llama/", dir.path())
            .await
            .unwrap();

        let out = ferry_on(&moto)
            .args([
                "validate",
                "--format",
                "json",
                "s3://research-models/fine-tunes/llama-3.1-ft/",
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            json["source"],
            "s3://research-models/fine-tunes/llama-3.1-ft/"
        );

        let out = ferry_on(&moto)
            .args([
                "validate",
                "--format",
                "json",
                "s3://research-models/fine tunes/llama/",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["findings"][0]["code"], "invalid-source-uri");

        let out = ferry_on(&moto)
            .args(["validate", "s3://no-such-bucket/x/"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("NoSuchBucket"));
    }
}
