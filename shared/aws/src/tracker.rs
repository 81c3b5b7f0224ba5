//! The tracker's adapters: model usage from CloudWatch, the research folder's content
//! re-listed before a queued import starts, and the access diagnosis of a failed job.

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use ferry_core::access::{read_live, run_checks, LiveTarget};
use ferry_core::import::{ContentCheck, LedgerItem, PortError, PortErrorKind, StartConfig};
use ferry_core::model_folder::identify;
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

/// The access check of a failed job's chain, as far as the tracker's credentials read
/// it: the hosting side fully; the research side only where its policies let the
/// tracker read them (the report says what could not be read).
pub struct AccessDiagnosis {
    /// Builds its clients for the first failed job only.
    reader: AwsPolicyReader,
    start: StartConfig,
    region: Option<String>,
}

impl AccessDiagnosis {
    pub fn new(config: &SdkConfig, start: StartConfig, region: Option<String>) -> Self {
        Self {
            reader: AwsPolicyReader::new(config),
            start,
            region,
        }
    }
}

impl Diagnose for AccessDiagnosis {
    async fn diagnose(&self, item: &LedgerItem) -> Option<String> {
        let target = LiveTarget {
            source: S3Uri::parse(&item.source_uri).ok()?,
            region: self.region.clone()?,
            execution_role: self.start.execution_role_arn.clone(),
            imported_model_key: self.start.imported_model_kms_key_arn.clone(),
            caller_role: None,
        };
        match read_live(&self.reader, &self.reader, &target, None).await {
            Ok(scenario) => Some(run_checks(&scenario).render_text(false)),
            Err(e) => Some(format!("the access check could not run: {e}")),
        }
    }
}

/// The tracker wired to AWS, with one account's credentials (the hosting account).
pub type AwsTracker = ferry_core::track::Tracker<
    crate::ledger::DynamoLedger,
    crate::bedrock::BedrockImports,
    crate::alerts::SnsAlerts,
    crate::bedrock::BedrockImports,
    CloudWatchUsage,
    S3Content,
    AccessDiagnosis,
>;

pub fn aws_tracker(sdk: &SdkConfig, config: &ferry_core::track::TrackerConfig) -> AwsTracker {
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
        },
        models: bedrock,
        usage: CloudWatchUsage::new(crate::config::cloudwatch_client(sdk)),
        content: S3Content::new(sdk),
        diagnose: AccessDiagnosis::new(sdk, config.start.clone(), config.region.clone()),
    }
}
