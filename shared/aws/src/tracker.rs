//! The tracker's adapters: model usage from CloudWatch, the research folder's content
//! re-listed before a queued import starts, and the access diagnosis of a failed job.

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use ferry_core::access::{read_live, run_checks, LiveTarget, PolicyReader, ReadError, RoleInfo};
use ferry_core::import::fingerprint::identify;
use ferry_core::import::{ContentCheck, LedgerItem, PortError, PortErrorKind, StartConfig};
use ferry_core::track::{Diagnose, Usage};
use ferry_core::{FolderSource, S3Uri, SourceErrorKind};

use crate::error::port_error;
use crate::policy_reader::AwsPolicyReader;
use crate::s3_folder::S3Folder;

/// `AWS/Bedrock` `Invocations` by `ModelId` (the imported model's ARN).
#[derive(Clone)]
pub struct CloudWatchUsage {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchUsage {
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        Self { client }
    }
}

/// One datapoint per day: GetMetricStatistics returns at most 1,440 datapoints.
const DAY_SECS: i32 = 86_400;

impl Usage for CloudWatchUsage {
    async fn invocations(&self, model_arn: &str, since: u64, until: u64) -> Result<u64, PortError> {
        let at =
            |secs: u64| aws_smithy_types::DateTime::from(UNIX_EPOCH + Duration::from_secs(secs));
        let out = self
            .client
            .get_metric_statistics()
            .namespace("AWS/Bedrock")
            .metric_name("Invocations")
            .dimensions(
                Dimension::builder()
                    .name("ModelId")
                    .value(model_arn)
                    .build(),
            )
            .start_time(at(since))
            .end_time(at(until))
            .period(DAY_SECS)
            .statistics(Statistic::Sum)
            .send()
            .await
            .map_err(|e| port_error("cloudwatch:GetMetricStatistics", &e))?;
        let total: f64 = out.datapoints().iter().filter_map(|d| d.sum()).sum();
        Ok(total.max(0.0).round() as u64)
    }
}

/// A queued folder, listed again with the tracker's credentials before its import
/// starts. The research bucket policy grants the tracker role `s3:ListBucket`
/// (`ferry policies` prints it); without it the tracker warns and starts the content
/// validated at upload rather than stalling the queue.
pub struct S3Content {
    config: SdkConfig,
    /// Built on first use: most sweeps start nothing, and every client built costs
    /// init time (the SDK sets up its TLS trust store per client).
    s3: OnceLock<aws_sdk_s3::Client>,
}

impl S3Content {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            config: config.clone(),
            s3: OnceLock::new(),
        }
    }
}

impl ContentCheck for S3Content {
    async fn still_current(&self, item: &LedgerItem) -> Result<bool, PortError> {
        let uri = S3Uri::parse(&item.source_uri)
            .map_err(|e| PortError::new(PortErrorKind::Invalid, "ledger", e.to_string()))?;
        let s3 = self
            .s3
            .get_or_init(|| crate::config::s3_client(&self.config));
        match S3Folder::new(s3.clone(), uri.clone()).list().await {
            Ok(entries) => Ok(identify(&uri, &entries).fingerprint == item.fingerprint),
            Err(e) if e.kind == SourceErrorKind::AccessDenied => {
                tracing::warn!(folder = %uri, error = %e, "cannot list the research folder: grant the tracker role s3:ListBucket on it; starting the content validated at upload");
                Ok(true)
            }
            Err(e) => Err(PortError::new(
                if e.is_retryable() {
                    PortErrorKind::Retryable
                } else {
                    PortErrorKind::Other
                },
                "s3:ListObjectsV2",
                e.to_string(),
            )),
        }
    }
}

/// The access check of a failed job's chain, as far as the tracker's credentials (of
/// the hosting account) can read it: the hosting side fully, nothing of the research
/// account.
pub struct AccessDiagnosis {
    /// Builds its clients for the first failed job only.
    reader: AwsPolicyReader,
    start: StartConfig,
    region: Option<String>,
    research_account: Option<String>,
}

impl AccessDiagnosis {
    pub fn new(config: &SdkConfig, tracker: &ferry_core::track::TrackerConfig) -> Self {
        Self {
            reader: AwsPolicyReader::new(config),
            start: tracker.start.clone(),
            region: tracker.region.clone(),
            research_account: tracker.research_account.clone(),
        }
    }
}

impl Diagnose for AccessDiagnosis {
    async fn diagnose(&self, item: &LedgerItem) -> Option<String> {
        let region = self.region.clone()?;
        let target = LiveTarget {
            source: S3Uri::parse(&item.source_uri).ok()?,
            execution_role: self.start.execution_role_arn.clone(),
            imported_model_key: self.start.imported_model_kms_key_arn.clone(),
            caller_role: None,
            region,
        };
        let Some(research_account) = self.research_account.as_deref() else {
            return Some(
                "Ferry's access check did not run: set FERRY_RESEARCH_ACCOUNT_ID (the research account that holds the weights) on the tracker".into(),
            );
        };
        let research = ResearchSeenFromHosting {
            research_account,
            partition: ferry_core::aws_names::region::partition_of(&target.region),
        };
        match read_live(&research, &self.reader, &target, None).await {
            Ok(scenario) => Some(format!(
                "{}\nThe research side (bucket policy, the objects' keys, key policies) is readable only in the research account; to judge it there, run with its credentials:\n  ferry check --source {} --execution-role {}\n",
                run_checks(&scenario, crate::clock::now_secs()).render_text(false),
                target.source,
                target.execution_role,
            )),
            Err(e) => Some(format!("the access check could not run: {e}")),
        }
    }
}

/// The research account as the tracker sees it from the hosting account: its id, and
/// nothing AWS would let it read. A bucket policy and a key policy are readable only in
/// their own account, and the tracker is granted no object reads, so those parts are
/// reported unread without a call that AWS would refuse (and without one line per
/// object for a large folder).
struct ResearchSeenFromHosting<'a> {
    research_account: &'a str,
    partition: &'static str,
}

fn not_from_hosting(operation: &str, why: &str) -> ReadError {
    ReadError {
        operation: operation.to_owned(),
        code: format!("not readable from the hosting account: {why}"),
        denied: false,
    }
}

impl PolicyReader for ResearchSeenFromHosting<'_> {
    async fn caller_arn(&self) -> Result<String, ReadError> {
        Ok(format!(
            "arn:{}:iam::{}:root",
            self.partition, self.research_account
        ))
    }
    async fn organization(&self) -> Result<Option<String>, ReadError> {
        Err(not_from_hosting(
            "organizations:DescribeOrganization",
            "the research account's organization",
        ))
    }
    async fn bucket_policy(&self, _bucket: &str) -> Result<Option<String>, ReadError> {
        Err(not_from_hosting(
            "s3:GetBucketPolicy",
            "only the bucket's own account may read its policy",
        ))
    }
    async fn object_keys(&self, _bucket: &str, _prefix: &str) -> Result<Vec<String>, ReadError> {
        Err(not_from_hosting(
            "s3:ListBucket",
            "the objects and their encryption are judged in the research account",
        ))
    }
    async fn object_kms_key(&self, _bucket: &str, _key: &str) -> Result<Option<String>, ReadError> {
        Err(not_from_hosting(
            "s3:HeadObject",
            "the tracker is granted no reads of the research objects",
        ))
    }
    async fn key_policy(&self, _key_arn: &str) -> Result<String, ReadError> {
        Err(not_from_hosting(
            "kms:GetKeyPolicy",
            "a key policy is readable only in the key's account",
        ))
    }
    async fn role(&self, name: &str) -> Result<RoleInfo, ReadError> {
        Err(not_from_hosting(
            "iam:GetRole",
            &format!("the research role {name}"),
        ))
    }
    async fn inline_policies(&self, role: &str) -> Result<Vec<(String, String)>, ReadError> {
        Err(not_from_hosting(
            "iam:ListRolePolicies",
            &format!("the research role {role}"),
        ))
    }
    async fn attached_policies(&self, role: &str) -> Result<Vec<String>, ReadError> {
        Err(not_from_hosting(
            "iam:ListAttachedRolePolicies",
            &format!("the research role {role}"),
        ))
    }
    async fn managed_policy(&self, arn: &str) -> Result<String, ReadError> {
        Err(not_from_hosting("iam:GetPolicy", arn))
    }
}

/// The tracker wired to AWS, with one account's credentials (the hosting account).
pub type AwsTracker = ferry_core::track::Tracker<
    crate::ledger::DynamoLedger,
    crate::bedrock::BedrockImports,
    crate::alerts::SnsAlerts,
    crate::events::EventBridgeBus,
    crate::bedrock::BedrockImports,
    CloudWatchUsage,
    S3Content,
    AccessDiagnosis,
    crate::runtime::BedrockRuntime,
    crate::release_pointer::SsmReleasePointer,
>;

/// The tracker's ports over the SDK, with the system clock; release pointers under
/// the configured prefix (`FERRY_RELEASE_PARAMETER_PREFIX`). The event bus,
/// the runtime and the pointers build their clients on first use: most sweeps put no
/// event, smoke-test nothing and release nothing, and the cold start stays as it was.
pub fn aws_tracker(sdk: &SdkConfig, config: &ferry_core::track::TrackerConfig) -> AwsTracker {
    let release_prefix = &config.after_import.parameter_prefix;
    let bedrock = crate::bedrock::BedrockImports::new(crate::config::bedrock_client(sdk));
    ferry_core::track::Tracker {
        hosting: ferry_core::import::Hosting {
            ledger: crate::ledger::DynamoLedger::new(
                crate::config::dynamodb_client(sdk),
                &config.ledger_table,
            ),
            imports: bedrock.clone(),
            alerts: crate::alerts::SnsAlerts::new(
                crate::config::sns_client(sdk),
                &config.alert_topic_arn,
            ),
            events: crate::events::EventBridgeBus::on_first_use(sdk),
            clock: crate::clock::now_secs,
        },
        models: bedrock,
        usage: CloudWatchUsage::new(crate::config::cloudwatch_client(sdk)),
        content: S3Content::new(sdk),
        diagnose: AccessDiagnosis::new(sdk, config),
        runtime: crate::runtime::BedrockRuntime::on_first_use(sdk),
        pointer: crate::release_pointer::SsmReleasePointer::on_first_use(sdk, release_prefix),
    }
}
