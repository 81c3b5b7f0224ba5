//! What a running job does with the artifacts: assume the passed role through (moto's)
//! STS, list the folder and read `config.json` from (moto's) S3 with those credentials.

use anyhow::{anyhow, Context, Result};
use aws_config::SdkConfig;
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};

/// Where a job's STS and S3 calls go (moto on loopback).
#[derive(Debug, Clone)]
pub struct ArtifactSource {
    pub endpoint: String,
}

/// What Bedrock learns from the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifacts {
    pub architecture: String,
    pub weight_bytes: u64,
}

/// Why a job fails: the message the job reports.
pub fn no_access_message(s3_uri: &str) -> String {
    format!(
        "Amazon Bedrock does not have access to the S3 location ({}). Update the permissions and try again.",
        s3_uri.trim_end_matches('/')
    )
}

pub(crate) fn base_config(source: &ArtifactSource, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .endpoint_url(&source.endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "bedrock",
            "bedrock",
            None,
            None,
            "bedrock-emulator",
        )))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

/// Reads the folder as the execution role. `Err` carries the job's failure message.
pub async fn read(
    source: &ArtifactSource,
    region: &str,
    role_arn: &str,
    s3_uri: &str,
) -> std::result::Result<Artifacts, String> {
    match read_as_role(source, region, role_arn, s3_uri).await {
        Ok(Some(artifacts)) => Ok(artifacts),
        Ok(None) => Err(format!(
            "The model artifacts at {s3_uri} are missing config.json. Add the Hugging Face configuration file and try again."
        )),
        Err(_) => Err(no_access_message(s3_uri)),
    }
}

async fn read_as_role(
    source: &ArtifactSource,
    region: &str,
    role_arn: &str,
    s3_uri: &str,
) -> Result<Option<Artifacts>> {
    let s3 = s3_as_role(source, region, role_arn).await?;
    let (bucket, prefix) = folder(s3_uri);
    let listed = list_folder(&s3, bucket, &prefix).await?;
    if !listed.has_config {
        return Ok(None);
    }
    Ok(Some(Artifacts {
        architecture: read_architecture(&s3, bucket, &prefix).await?,
        weight_bytes: listed.weight_bytes,
    }))
}

/// An S3 client with the credentials of `role_arn`, assumed through the source's STS.
async fn s3_as_role(
    source: &ArtifactSource,
    region: &str,
    role_arn: &str,
) -> Result<aws_sdk_s3::Client> {
    let base = base_config(source, region);
    let assumed = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("BedrockModelImport")
        .send()
        .await
        .context("assuming the execution role")?;
    let creds = assumed
        .credentials()
        .ok_or_else(|| anyhow!("no credentials"))?;
    let as_role = base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            None,
            "bedrock-import-job",
        )))
        .build();
    Ok(aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&as_role)
            .force_path_style(true)
            .build(),
    ))
}

/// The bucket and the folder's prefix (empty or ending in `/`) of an `s3://` URI.
fn folder(s3_uri: &str) -> (&str, String) {
    let rest = s3_uri.trim_start_matches("s3://");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    };
    (bucket, prefix)
}

/// What the folder's listing tells: whether `config.json` is there, and the weights' size.
struct Listing {
    has_config: bool,
    weight_bytes: u64,
}

async fn list_folder(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Listing> {
    let mut listing = Listing {
        has_config: false,
        weight_bytes: 0,
    };
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("listing the artifacts")?;
        for object in page.contents() {
            let key = object.key().unwrap_or_default();
            if key == format!("{prefix}config.json") {
                listing.has_config = true;
            }
            if key.ends_with(".safetensors") {
                listing.weight_bytes += u64::try_from(object.size().unwrap_or(0)).unwrap_or(0);
            }
        }
    }
    Ok(listing)
}

/// The architecture `config.json` names (its first `architectures`, else its
/// `model_type`, else `unknown`).
async fn read_architecture(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<String> {
    let config = s3
        .get_object()
        .bucket(bucket)
        .key(format!("{prefix}config.json"))
        .send()
        .await
        .context("reading config.json")?;
    let bytes = config
        .body
        .collect()
        .await
        .context("reading config.json")?
        .into_bytes();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(json["architectures"][0]
        .as_str()
        .or_else(|| json["model_type"].as_str())
        .unwrap_or("unknown")
        .to_owned())
}
