//! Bytes read to validate sparse models of 1, 30 and 300 shards, through the real S3
//! client and `S3Folder` against [`FolderS3`]: headers and small files only, the same
//! for every shard size.

use anyhow::{ensure, Context, Result};
use ferry_core::{validate, S3Uri, ValidateOptions};
use serde::Serialize;

use crate::folder_s3::FolderS3;

#[derive(Debug, Serialize)]
pub struct BytesRead {
    pub shards: usize,
    pub shard_bytes: u64,
    pub model_bytes: u64,
    /// What Ferry's report says it read.
    pub bytes_read: u64,
    /// What the server sent (response bodies).
    pub bytes_served: u64,
    /// HTTP requests the server answered.
    pub requests: u64,
    /// Headers (length prefix included) plus small files: what validation must read.
    pub expected_bytes: u64,
    pub millis: f64,
}

pub async fn measure(shard_counts: &[usize], shard_sizes: &[u64]) -> Result<Vec<BytesRead>> {
    let mut rows = Vec::new();
    let family = ferry_testkit::families::family("llama-3.1");
    for &shards in shard_counts {
        for &shard_bytes in shard_sizes {
            let root = tempfile::tempdir()?;
            let dir = root.path().join("models/sparse");
            let header_bytes =
                ferry_testkit::fixtures::write_sparse_model(&dir, &family, shards, shard_bytes)?;
            let mut small = 0;
            for file in ["config.json", "model.safetensors.index.json"] {
                if file == "model.safetensors.index.json" && shards == 1 {
                    continue; // one shard: no index
                }
                small += std::fs::metadata(dir.join(file))
                    .with_context(|| format!("the sparse model has no {file}"))?
                    .len();
            }
            let server = FolderS3::start("bench-models", root.path()).await?;
            let sdk = ferry_aws::config_loader()
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(&server.endpoint)
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "bench", "bench", None, None, "bench",
                ))
                .load()
                .await;
            let folder = ferry_aws::S3Folder::new(
                ferry_aws::s3_client(&sdk),
                S3Uri::parse("s3://bench-models/models/sparse/")?,
            );
            let started = std::time::Instant::now();
            let report = validate(&folder, &ValidateOptions::default())
                .await
                .context("validating the sparse model")?;
            let millis = started.elapsed().as_secs_f64() * 1e3;
            ensure!(
                report.ok,
                "the {shards}-shard sparse model did not validate: {:?}",
                report.findings
            );
            rows.push(BytesRead {
                shards,
                shard_bytes,
                model_bytes: shards as u64 * shard_bytes,
                bytes_read: report.bytes_read,
                bytes_served: server.body_bytes(),
                requests: server.requests(),
                expected_bytes: small + header_bytes,
                millis,
            });
        }
    }
    Ok(rows)
}
