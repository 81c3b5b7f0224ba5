//! The access check takes the SSE-KMS keys that validation's reads saw instead of one
//! HeadObject per object, and asks S3 again for any object changed since. Its own
//! test binary: it counts the process's API calls.

use ferry_aws::{ApiCallCounter, AwsPolicyReader, S3Folder, SeenEncryption};
use ferry_core::access::PolicyReader;
use ferry_core::{validate, S3Uri, ValidateOptions};
use ferry_testkit::moto::MotoServer;

fn head_objects() -> u64 {
    ApiCallCounter::process()
        .take()
        .iter()
        .filter(|c| c.service == "S3" && c.operation == "HeadObject")
        .map(|c| c.calls)
        .sum()
}

#[tokio::test]
async fn objects_validation_read_need_no_head_object_until_they_change() {
    let moto = MotoServer::start().unwrap();
    let config = moto.sdk_config().await;
    let s3 = ferry_aws::s3_client(&config);
    ferry_testkit::s3::create_bucket(&s3, "research")
        .await
        .unwrap();
    let key_arn = aws_sdk_kms::Client::new(&config)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .and_then(|m| m.arn())
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let family = ferry_testkit::families::family("llama-3.1");
    ferry_testkit::fixtures::write_model(dir.path(), &family, 3).unwrap();
    ferry_testkit::s3::upload_dir_encrypted(&s3, "research", "m/", dir.path(), Some(&key_arn))
        .await
        .unwrap();

    let seen = SeenEncryption::default();
    let folder = S3Folder::new(s3.clone(), S3Uri::parse("s3://research/m/").unwrap())
        .remembering(seen.clone());
    let report = validate(&folder, &ValidateOptions::default())
        .await
        .unwrap();
    assert!(report.ok, "{:?}", report.findings);

    let remembering = AwsPolicyReader::new(&config).remembering(seen);
    let asking = AwsPolicyReader::new(&config);
    let keys = remembering.object_keys("research", "m/").await.unwrap();
    let read = keys
        .iter()
        .filter(|k| {
            k.ends_with(".safetensors")
                || k.ends_with("/config.json")
                || k.ends_with("model.safetensors.index.json")
        })
        .count();
    assert!(read >= 5 && keys.len() > read, "{keys:?}");

    head_objects();
    let mut found = Vec::new();
    for key in &keys {
        found.push(remembering.object_kms_key("research", key).await.unwrap());
    }
    assert_eq!(
        head_objects(),
        (keys.len() - read) as u64,
        "one HeadObject for each object validation did not read"
    );
    for (key, kms) in keys.iter().zip(&found) {
        let asked = asking.object_kms_key("research", key).await.unwrap();
        assert_eq!(
            kms, &asked,
            "{key}: the remembered key is what HeadObject says"
        );
        assert!(
            kms.as_deref()
                .is_some_and(|k| k.ends_with(key_arn.rsplit('/').next().unwrap())),
            "{key}: {kms:?}"
        );
    }

    // Overwritten after validation read it (a new ETag): the next check asks S3 again.
    let mut config_json = std::fs::read(dir.path().join("config.json")).unwrap();
    config_json.push(b'\n');
    s3.put_object()
        .bucket("research")
        .key("m/config.json")
        .body(config_json.into())
        .send()
        .await
        .unwrap();
    remembering.object_keys("research", "m/").await.unwrap();
    head_objects();
    assert_eq!(
        remembering
            .object_kms_key("research", "m/config.json")
            .await
            .unwrap(),
        None,
        "now unencrypted by KMS"
    );
    assert_eq!(head_objects(), 1);
}
