//! Putting fixture folders into an S3 endpoint (moto) for tests.

use std::path::Path;

use anyhow::{Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use futures_util::{stream, StreamExt, TryStreamExt};

/// Uploads every file under `dir` to `s3://bucket/prefix` (prefix ends with `/` or is empty).
/// Sparse files are not for S3: moto would hold every byte.
pub async fn upload_dir(client: &Client, bucket: &str, prefix: &str, dir: &Path) -> Result<usize> {
    upload_dir_encrypted(client, bucket, prefix, dir, None).await
}

/// [`upload_dir`], each object encrypted with SSE-KMS under `kms_key` when given.
pub async fn upload_dir_encrypted(
    client: &Client,
    bucket: &str,
    prefix: &str,
    dir: &Path,
    kms_key: Option<&str>,
) -> Result<usize> {
    let mut files = Vec::new();
    collect(dir, "", &mut files)?;
    let count = files.len();
    stream::iter(files)
        .map(|(rel, path)| async move {
            let body = ByteStream::from_path(&path)
                .await
                .with_context(|| format!("reading {}", path.display()))?;
            let mut put = client
                .put_object()
                .bucket(bucket)
                .key(format!("{prefix}{rel}"))
                .body(body);
            if let Some(key) = kms_key {
                put = put
                    .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                    .ssekms_key_id(key);
            }
            put.send()
                .await
                .with_context(|| format!("uploading {rel}"))?;
            anyhow::Ok(())
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(count)
}

/// Puts `count` small objects named `{prefix}{stem}-NNNNN.txt`.
pub async fn put_many(
    client: &Client,
    bucket: &str,
    prefix: &str,
    stem: &str,
    count: usize,
) -> Result<()> {
    stream::iter(0..count)
        .map(|i| async move {
            client
                .put_object()
                .bucket(bucket)
                .key(format!("{prefix}{stem}-{i:05}.txt"))
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .with_context(|| format!("putting object {i}"))?;
            anyhow::Ok(())
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

pub async fn create_bucket(client: &Client, bucket: &str) -> Result<()> {
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .with_context(|| format!("creating bucket {bucket}"))?;
    Ok(())
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<(String, std::path::PathBuf)>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if entry.file_type()?.is_dir() {
            collect(&entry.path(), &rel, out)?;
        } else {
            out.push((rel, entry.path()));
        }
    }
    Ok(())
}

/// An S3 client for moto: path-style (`bucket.127.0.0.1` does not resolve).
pub fn s3_client(config: &aws_config::SdkConfig) -> Client {
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}
