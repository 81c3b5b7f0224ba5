//! The access checker's live reads, with one account's credentials: STS (who am I),
//! Organizations (which organization), S3 (bucket policy, object list, SSE-KMS key per
//! object), KMS (key policies) and IAM (a role's trust, inline, managed and boundary
//! policies). Read-only calls, one per document.

use std::sync::OnceLock;

use aws_config::SdkConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use ferry_core::access::{PolicyReader, Prober, ReadError, RoleInfo};
use ferry_core::{FolderSource, S3Uri, SourceErrorKind};

use crate::error::{classify, HttpStatus};
use crate::s3_folder::S3Folder;
use crate::seen_encryption::{kms_key_of, SeenEncryption, Version};

/// Its clients are built on first use: a reader that only ever reads S3 and KMS (the
/// research side) builds no IAM client, and a cold start pays for none (the SDK sets up
/// its TLS trust store per client, about 0.8 ms each on the bench machine).
#[derive(Clone)]
pub struct AwsPolicyReader {
    config: SdkConfig,
    sts: OnceLock<aws_sdk_sts::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    iam: OnceLock<aws_sdk_iam::Client>,
    organizations: OnceLock<aws_sdk_organizations::Client>,
    /// Encryption the caller's own reads saw: objects read in the listed version need
    /// no HeadObject.
    seen: Option<SeenEncryption>,
}

impl AwsPolicyReader {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            config: config.clone(),
            sts: OnceLock::new(),
            s3: OnceLock::new(),
            iam: OnceLock::new(),
            organizations: OnceLock::new(),
            seen: None,
        }
    }

    fn sts(&self) -> &aws_sdk_sts::Client {
        self.sts
            .get_or_init(|| crate::config::sts_client(&self.config))
    }

    fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3
            .get_or_init(|| crate::config::s3_client(&self.config))
    }

    fn iam(&self) -> &aws_sdk_iam::Client {
        self.iam
            .get_or_init(|| crate::config::iam_client(&self.config))
    }

    fn organizations(&self) -> &aws_sdk_organizations::Client {
        self.organizations
            .get_or_init(|| crate::config::organizations_client(&self.config))
    }

    /// Takes objects' SSE-KMS keys from `seen` when it holds the listed version.
    pub fn remembering(mut self, seen: SeenEncryption) -> Self {
        self.seen = Some(seen);
        self
    }

    /// A KMS client for the key's own region (GetKeyPolicy is regional).
    fn kms_for(&self, key_arn: &str) -> aws_sdk_kms::Client {
        let region = key_arn.split(':').nth(3).filter(|r| !r.is_empty());
        crate::config::kms_client(&self.config, region)
    }
}

/// An SDK error as a read error: the code AWS gave, and whether it was a refusal.
pub fn read_error<E, R>(operation: &str, err: &SdkError<E, R>) -> ReadError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    let classified = classify(err);
    let code = classified.code.clone().unwrap_or(classified.detail.clone());
    let denied = classified.kind == SourceErrorKind::AccessDenied
        || code.contains("AccessDenied")
        || code == "UnauthorizedOperation";
    ReadError {
        operation: operation.to_owned(),
        code,
        denied,
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986).
fn decode(document: &str) -> String {
    percent_encoding::percent_decode_str(document)
        .decode_utf8_lossy()
        .into_owned()
}

impl PolicyReader for AwsPolicyReader {
    async fn caller_arn(&self) -> Result<String, ReadError> {
        let out = self
            .sts()
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| read_error("sts:GetCallerIdentity", &e))?;
        out.arn().map(str::to_owned).ok_or_else(|| ReadError {
            operation: "sts:GetCallerIdentity".into(),
            code: "the response carried no ARN".into(),
            denied: false,
        })
    }

    async fn organization(&self) -> Result<Option<String>, ReadError> {
        match self.organizations().describe_organization().send().await {
            Ok(out) => Ok(out.organization().and_then(|o| o.id()).map(str::to_owned)),
            Err(e) if e.code() == Some("AWSOrganizationsNotInUseException") => Ok(None),
            Err(e) => Err(read_error("organizations:DescribeOrganization", &e)),
        }
    }

    async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, ReadError> {
        match self.s3().get_bucket_policy().bucket(bucket).send().await {
            Ok(out) => Ok(out.policy().map(str::to_owned)),
            Err(e) if e.code() == Some("NoSuchBucketPolicy") => Ok(None),
            Err(e) => Err(read_error("s3:GetBucketPolicy", &e)),
        }
    }

    async fn object_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ReadError> {
        let uri = S3Uri {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        };
        let entries = S3Folder::new(self.s3().clone(), uri)
            .list()
            .await
            .map_err(|e| ReadError {
                operation: "s3:ListObjectsV2".into(),
                code: e.to_string(),
                denied: e.kind == SourceErrorKind::AccessDenied,
            })?;
        let keys: Vec<String> = entries
            .into_iter()
            .map(|e| {
                let key = format!("{prefix}{}", e.path);
                if let (Some(seen), Some(etag)) = (&self.seen, e.version) {
                    let version = Version {
                        etag,
                        modified: e.modified,
                    };
                    seen.listed(bucket, &key, version);
                }
                key
            })
            .collect();
        Ok(keys)
    }

    async fn object_kms_key(&self, bucket: &str, key: &str) -> Result<Option<String>, ReadError> {
        if let Some(known) = self.seen.as_ref().and_then(|s| s.kms_key(bucket, key)) {
            return Ok(known);
        }
        let out = self
            .s3()
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| read_error("s3:HeadObject", &e))?;
        // SSE-KMS without a key id cannot be judged: say so rather than skip.
        kms_key_of(out.server_side_encryption(), out.ssekms_key_id()).map_err(|problem| ReadError {
            operation: "s3:HeadObject".into(),
            code: problem.into(),
            denied: false,
        })
    }

    async fn key_policy(&self, key_arn: &str) -> Result<String, ReadError> {
        let out = self
            .kms_for(key_arn)
            .get_key_policy()
            .key_id(key_arn)
            .policy_name("default")
            .send()
            .await
            .map_err(|e| read_error("kms:GetKeyPolicy", &e))?;
        out.policy().map(str::to_owned).ok_or_else(|| ReadError {
            operation: "kms:GetKeyPolicy".into(),
            code: "the response carried no policy".into(),
            denied: false,
        })
    }

    async fn role(&self, name: &str) -> Result<RoleInfo, ReadError> {
        let out = self
            .iam()
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| read_error("iam:GetRole", &e))?;
        let role = out.role().ok_or_else(|| ReadError {
            operation: "iam:GetRole".into(),
            code: "the response carried no role".into(),
            denied: false,
        })?;
        Ok(RoleInfo {
            arn: role.arn().to_owned(),
            trust_policy: decode(role.assume_role_policy_document().unwrap_or("{}")),
            boundary_arn: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_owned),
        })
    }

    async fn inline_policies(&self, role: &str) -> Result<Vec<(String, String)>, ReadError> {
        let mut names = Vec::new();
        let mut pages = self
            .iam()
            .list_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| read_error("iam:ListRolePolicies", &e))?;
            names.extend(page.policy_names().iter().cloned());
        }
        let mut policies = Vec::new();
        for name in names {
            let out = self
                .iam()
                .get_role_policy()
                .role_name(role)
                .policy_name(&name)
                .send()
                .await
                .map_err(|e| read_error("iam:GetRolePolicy", &e))?;
            policies.push((name, decode(out.policy_document())));
        }
        Ok(policies)
    }

    async fn attached_policies(&self, role: &str) -> Result<Vec<String>, ReadError> {
        let mut arns = Vec::new();
        let mut pages = self
            .iam()
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| read_error("iam:ListAttachedRolePolicies", &e))?;
            arns.extend(
                page.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_owned)),
            );
        }
        Ok(arns)
    }

    async fn managed_policy(&self, arn: &str) -> Result<String, ReadError> {
        let policy = self
            .iam()
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| read_error("iam:GetPolicy", &e))?;
        let version = policy
            .policy()
            .and_then(|p| p.default_version_id())
            .ok_or_else(|| ReadError {
                operation: "iam:GetPolicy".into(),
                code: "the policy has no default version".into(),
                denied: false,
            })?;
        let out = self
            .iam()
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| read_error("iam:GetPolicyVersion", &e))?;
        out.policy_version()
            .and_then(|v| v.document())
            .map(decode)
            .ok_or_else(|| ReadError {
                operation: "iam:GetPolicyVersion".into(),
                code: "the response carried no document".into(),
                denied: false,
            })
    }
}

/// S3 with the execution role's credentials, for `--probe`.
pub struct S3Prober {
    s3: aws_sdk_s3::Client,
}

impl S3Prober {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            s3: crate::config::s3_client(config),
        }
    }
}

impl Prober for S3Prober {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<(), ReadError> {
        self.s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| read_error("s3:ListObjectsV2", &e))
    }

    async fn read_first_byte(&self, bucket: &str, key: &str) -> Result<(), ReadError> {
        match self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .range("bytes=0-0")
            .send()
            .await
        {
            Ok(out) => {
                // Reading the body proves decryption too (SSE-KMS decrypts on read).
                out.body.collect().await.map(|_| ()).map_err(|e| ReadError {
                    operation: "s3:GetObject".into(),
                    code: format!("the body could not be read ({e})"),
                    denied: false,
                })
            }
            // An empty object has no byte 0: S3 answers 416, after authorizing the read.
            Err(e) if e.code() == Some("InvalidRange") => Ok(()),
            Err(e) => Err(read_error("s3:GetObject", &e)),
        }
    }
}
