//! The S3 folder with aws-smithy-mocks: which requests it makes, and how it reads
//! S3's errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::Object;
use aws_sdk_s3::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use ferry_aws::S3Folder;
use ferry_core::{validate, FolderSource, S3Uri, SourceErrorKind, ValidateOptions};

/// A 40 GB object whose first bytes are a real safetensors prefix and header.
fn giant_shard() -> (u64, Vec<u8>) {
    let data_len: u64 = 40_000_000_000;
    let json = format!(
        r#"{{"w":{{"dtype":"BF16","shape":[{}],"data_offsets":[0,{data_len}]}}}}"#,
        data_len / 2
    );
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    (bytes.len() as u64 + data_len, bytes)
}

fn object(key: &str, size: u64, etag: &str) -> Object {
    Object::builder()
        .key(key)
        .size(size as i64)
        .e_tag(etag)
        .build()
}

fn parse_range(range: &str) -> (usize, usize) {
    let (start, end) = range
        .trim_start_matches("bytes=")
        .split_once('-')
        .expect("a bytes=a-b range");
    (start.parse().unwrap(), end.parse::<usize>().unwrap() + 1)
}

#[tokio::test]
async fn reads_are_ranged_conditional_and_never_touch_tensor_data() {
    let (shard_size, shard_prefix) = giant_shard();
    let config = br#"{"architectures":["MistralForCausalLM"],"model_type":"mistral","max_position_embeddings":32768}"#.to_vec();
    let mut config = config;
    config.resize(100, b' '); // the listed size
    let objects: HashMap<String, Vec<u8>> = HashMap::from([
        ("models/m/config.json".to_owned(), config),
        (
            "models/m/model.safetensors".to_owned(),
            shard_prefix.clone(),
        ),
    ]);
    let list = mock!(Client::list_objects_v2)
        .match_requests(|r| r.bucket() == Some("research") && r.prefix() == Some("models/m/"))
        .then_output(move || {
            ListObjectsV2Output::builder()
                .contents(object("models/m/", 0, "\"dir\""))
                .contents(object("models/m/config.json", 100, "\"c\""))
                .contents(object("models/m/model.safetensors", shard_size, "\"w\""))
                .contents(object("models/m/tokenizer.json", 2, "\"t\""))
                .build()
        });
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let get = mock!(Client::get_object).then_compute_output(move |r| {
        let key = r.key().unwrap_or_default().to_owned();
        let range = r.range().unwrap_or_default().to_owned();
        seen.lock()
            .unwrap()
            .push((key.clone(), range.clone(), r.if_match().map(str::to_owned)));
        let (start, end) = parse_range(&range);
        let bytes = &objects[&key];
        assert!(end <= bytes.len(), "read past the header of {key}: {range}");
        GetObjectOutput::builder()
            .body(ByteStream::from(bytes[start..end].to_vec()))
            .build()
    });
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list, &get]);
    let folder = S3Folder::new(client, S3Uri::parse("s3://research/models/m/").unwrap());

    let report = validate(&folder, &ValidateOptions::default())
        .await
        .unwrap();

    assert!(report.ok, "{:#?}", report.findings);
    assert_eq!(report.files, 3, "the folder marker is not a file");
    assert_eq!(report.total_bytes, shard_size);
    assert_eq!(report.bytes_read, 100 + shard_prefix.len() as u64);
    assert_eq!(list.num_calls(), 1);
    let mut requests = requests.lock().unwrap().clone();
    requests.sort();
    let header_end = shard_prefix.len() - 1;
    assert_eq!(
        requests,
        [
            (
                "models/m/config.json".into(),
                "bytes=0-99".into(),
                Some("\"c\"".into())
            ),
            (
                "models/m/model.safetensors".into(),
                "bytes=0-7".into(),
                Some("\"w\"".into())
            ),
            (
                "models/m/model.safetensors".into(),
                format!("bytes=8-{header_end}"),
                Some("\"w\"".into())
            ),
        ]
    );
}

fn s3_error(status: u16, code: &str) -> HttpResponse {
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code} message</Message><RequestId>r</RequestId></Error>");
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

#[tokio::test]
async fn access_denied_names_the_permission_to_grant() {
    let list = mock!(Client::list_objects_v2).then_http_response(|| s3_error(403, "AccessDenied"));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list]);
    let folder = S3Folder::new(client, S3Uri::parse("s3://research/models/m/").unwrap());
    let err = folder.list().await.unwrap_err();
    assert_eq!(err.kind, SourceErrorKind::AccessDenied);
    assert_eq!(
        err.to_string(),
        "could not list s3://research/models/m/: AccessDenied: AccessDenied message; the caller needs \
         s3:ListBucket on arn:aws:s3:::research (for prefix \"models/m/\")"
    );

    let get = mock!(Client::get_object).then_http_response(|| s3_error(403, "AccessDenied"));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get]);
    let folder = S3Folder::new(client, S3Uri::parse("s3://research/models/m/").unwrap());
    let err = folder.read_range("config.json", 0..10).await.unwrap_err();
    assert_eq!(err.kind, SourceErrorKind::AccessDenied);
    assert!(err.to_string().contains("kms:Decrypt"), "{err}");
}

#[tokio::test]
async fn throttling_and_server_errors_are_transient() {
    for (status, code) in [(503, "SlowDown"), (500, "InternalError")] {
        let get = mock!(Client::get_object)
            .sequence()
            .http_response(move || s3_error(status, code))
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get]);
        let folder = S3Folder::new(client, S3Uri::parse("s3://research/m/").unwrap());
        let err = folder
            .read_range("model.safetensors", 0..8)
            .await
            .unwrap_err();
        assert_eq!(err.kind, SourceErrorKind::Transient, "{code}: {err}");
        assert!(err.is_retryable());
    }
}

#[tokio::test]
async fn a_bucket_in_another_region_is_followed_once() {
    let list = mock!(Client::list_objects_v2)
        .sequence()
        .http_response(|| {
            let mut response = s3_error(301, "PermanentRedirect");
            response
                .headers_mut()
                .insert("x-amz-bucket-region", "eu-central-1");
            response
        })
        .output(|| {
            ListObjectsV2Output::builder()
                .contents(object("m/config.json", 2, "\"c\""))
                .build()
        })
        .build();
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list], |c| c
        .region(aws_sdk_s3::config::Region::new("us-east-1")));
    let folder = S3Folder::new(client, S3Uri::parse("s3://research/m/").unwrap());
    let files = folder.list().await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(list.num_calls(), 2);
}
