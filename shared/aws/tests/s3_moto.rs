//! The S3 folder against moto's S3 on loopback: the real protocol, pagination past
//! 1000 keys, conditional reads.

use ferry_aws::S3Folder;
use ferry_core::{
    validate, Code, FolderSource, LocalFolder, S3Uri, SourceErrorKind, ValidateOptions,
};
use ferry_testkit::families::family;
use ferry_testkit::fixtures::write_model;
use ferry_testkit::moto::MotoServer;
use ferry_testkit::s3::{create_bucket, put_many, upload_dir};

async fn client(moto: &MotoServer) -> aws_sdk_s3::Client {
    let config = moto.sdk_config().await;
    ferry_aws::s3_client(&config)
}

fn folder(client: &aws_sdk_s3::Client, uri: &str) -> S3Folder {
    S3Folder::new(client.clone(), S3Uri::parse(uri).unwrap())
}

/// One moto per test binary would be faster, but each test owning its server keeps
/// them independent; moto starts in about a second.
#[tokio::test]
async fn s3_and_local_validation_agree_and_read_the_same_bytes() {
    let moto = MotoServer::start().unwrap();
    let s3 = client(&moto).await;
    create_bucket(&s3, "research-models").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("qwen3"), 3).unwrap();
    upload_dir(&s3, "research-models", "models/qwen3/", dir.path())
        .await
        .unwrap();
    // A sibling whose name extends the prefix must not leak into the folder.
    upload_dir(&s3, "research-models", "models/qwen3-old/", dir.path())
        .await
        .unwrap();

    let remote = validate(
        &folder(&s3, "s3://research-models/models/qwen3"),
        &ValidateOptions::default(),
    )
    .await
    .unwrap();
    let local = validate(
        &LocalFolder::open(dir.path()).unwrap(),
        &ValidateOptions::default(),
    )
    .await
    .unwrap();
    assert!(remote.ok, "{:#?}", remote.findings);
    assert_eq!(remote.source, "s3://research-models/models/qwen3/");
    assert_eq!(
        (
            remote.files,
            remote.total_bytes,
            remote.bytes_read,
            &remote.findings
        ),
        (
            local.files,
            local.total_bytes,
            local.bytes_read,
            &local.findings
        )
    );
}

#[tokio::test]
async fn listing_follows_pagination_past_1000_keys() {
    let moto = MotoServer::start().unwrap();
    let s3 = client(&moto).await;
    create_bucket(&s3, "many").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("mistral"), 1).unwrap();
    let model_files = upload_dir(&s3, "many", "m/", dir.path()).await.unwrap();
    put_many(&s3, "many", "m/logs/", "step", 1_005)
        .await
        .unwrap();

    let source = folder(&s3, "s3://many/m/");
    let listed = source.list().await.unwrap();
    assert_eq!(listed.len(), model_files + 1_005);
    let report = validate(&source, &ValidateOptions::default())
        .await
        .unwrap();
    assert_eq!(report.files, model_files + 1_005);
    assert!(report.ok);
}

#[tokio::test]
async fn a_missing_shard_and_a_bad_prefix_are_findings() {
    let moto = MotoServer::start().unwrap();
    let s3 = client(&moto).await;
    create_bucket(&s3, "research-models").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("llama-3.1"), 2).unwrap();
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    upload_dir(&s3, "research-models", "team a/llama+ft/", dir.path())
        .await
        .unwrap();

    let report = validate(
        &folder(&s3, "s3://research-models/team a/llama+ft/"),
        &ValidateOptions::default(),
    )
    .await
    .unwrap();
    let codes: Vec<_> = report.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, [Code::InvalidSourceUri, Code::IncompleteShards]);
    assert!(
        report.findings[0].message.contains("a space"),
        "{}",
        report.findings[0].message
    );
}

#[tokio::test]
async fn a_missing_bucket_is_not_found_and_an_empty_prefix_is_judged() {
    let moto = MotoServer::start().unwrap();
    let s3 = client(&moto).await;
    let err = folder(&s3, "s3://no-such-bucket/x/")
        .list()
        .await
        .unwrap_err();
    assert_eq!(err.kind, SourceErrorKind::NotFound, "{err}");
    assert!(
        err.to_string()
            .starts_with("could not list s3://no-such-bucket/x/: NoSuchBucket"),
        "{err}"
    );

    create_bucket(&s3, "empty").await.unwrap();
    let report = validate(
        &folder(&s3, "s3://empty/nothing/"),
        &ValidateOptions::default(),
    )
    .await
    .unwrap();
    assert!(!report.ok);
    assert!(report.has(Code::MissingConfig) && report.has(Code::MissingWeights));
}

#[tokio::test]
async fn a_file_replaced_after_listing_fails_the_read() {
    let moto = MotoServer::start().unwrap();
    let s3 = client(&moto).await;
    create_bucket(&s3, "etag-bucket").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("mistral"), 1).unwrap();
    upload_dir(&s3, "etag-bucket", "m/", dir.path())
        .await
        .unwrap();
    let source = folder(&s3, "s3://etag-bucket/m/");
    source.list().await.unwrap();
    assert_eq!(source.read_range("config.json", 0..1).await.unwrap(), b"{");
    s3.put_object()
        .bucket("etag-bucket")
        .key("m/config.json")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"{\"changed\": true}",
        ))
        .send()
        .await
        .unwrap();
    let err = source.read_range("config.json", 0..1).await.unwrap_err();
    assert!(
        err.to_string().contains("changed after it was listed"),
        "{err}"
    );
}
