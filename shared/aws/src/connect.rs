//! The importer's way to both accounts: S3 in the research account with the
//! function's own credentials, the hosting account through [`HostingSession`].

use std::time::Duration;

use ferry_core::access::{read_live, LiveError, LiveTarget, PolicyCache, Scenario};
use ferry_core::import::{Connect, Hosting, PortError, PortErrorKind, StageConfig};
use ferry_core::S3Uri;

use crate::alerts::SnsAlerts;
use crate::bedrock::BedrockImports;
use crate::events::EventBridgeBus;
use crate::hosting::HostingSession;
use crate::ledger::DynamoLedger;
use crate::policy_reader::AwsPolicyReader;
use crate::s3_folder::S3Folder;
use crate::seen_encryption::SeenEncryption;

pub struct AwsConnect {
    pub s3: aws_sdk_s3::Client,
    /// One session per stage, in the configuration's order, each with its stage's name.
    pub hosting: Vec<(Option<String>, HostingSession)>,
    /// The research account's policies, read with the importer's own credentials.
    pub research_reader: AwsPolicyReader,
    /// Policies read by this warm container, reused for a short time.
    pub policy_cache: PolicyCache,
    /// Encryption that validation's reads saw, so the access check skips their HeadObject.
    pub seen: SeenEncryption,
}

impl Connect for AwsConnect {
    type Folder = S3Folder;
    type Ledger = DynamoLedger;
    type Imports = BedrockImports;
    type Alerts = SnsAlerts;
    type Events = EventBridgeBus;

    fn folder(&self, uri: &S3Uri) -> S3Folder {
        S3Folder::new(self.s3.clone(), uri.clone()).remembering(self.seen.clone())
    }

    async fn hosting(
        &self,
        stage: &StageConfig,
        session: &str,
    ) -> Result<Hosting<DynamoLedger, BedrockImports, SnsAlerts, EventBridgeBus>, PortError> {
        self.session_of(stage)?.ports(session).await
    }

    async fn read_access(
        &self,
        stage: &StageConfig,
        target: &LiveTarget,
        session: &str,
    ) -> Result<Scenario, PortError> {
        let hosting_config = self.session_of(stage)?.config(session).await?;
        let hosting_reader = AwsPolicyReader::new(&hosting_config);
        read_live(
            &self.research_reader,
            &hosting_reader,
            target,
            Some(&self.policy_cache),
        )
        .await
        .map_err(|e| {
            let kind = match &e {
                LiveError::ResearchIdentity(read) if !read.denied => PortErrorKind::Retryable,
                LiveError::ResearchIdentity(_) => PortErrorKind::Denied,
                LiveError::ExecutionRole(_) => PortErrorKind::Invalid,
            };
            PortError::new(kind, "access check", e.to_string())
        })
    }
}

impl AwsConnect {
    /// Both accounts' clients for the importer, from the standard configuration chain:
    /// the research account's, and a session (assumed on first use) per stage.
    pub async fn from_env(config: &ferry_core::import::ImporterConfig) -> Self {
        let sdk = crate::config::load_sdk_config().await;
        let sts = crate::config::sts_client(&sdk);
        let hosting = config
            .stages
            .iter()
            .map(|stage| {
                let target = crate::hosting::HostingTarget {
                    role_arn: stage.hosting_role_arn.clone(),
                    external_id: stage.external_id.clone(),
                    region: stage.hosting_region.clone(),
                    ledger_table: stage.ledger_table.clone(),
                    alert_topic_arn: stage.alert_topic_arn.clone(),
                };
                let session = HostingSession::new(sdk.clone(), sts.clone(), target);
                (stage.name.clone(), session)
            })
            .collect();
        let seen = SeenEncryption::default();
        Self {
            s3: crate::config::s3_client(&sdk),
            research_reader: AwsPolicyReader::new(&sdk).remembering(seen.clone()),
            seen,
            policy_cache: PolicyCache::new(Duration::from_secs(config.policy_cache_seconds)),
            hosting,
        }
    }

    /// The session of `stage` (by name: the configuration the connection was built from).
    fn session_of(&self, stage: &StageConfig) -> Result<&HostingSession, PortError> {
        self.hosting
            .iter()
            .find(|(name, _)| *name == stage.name)
            .map(|(_, session)| session)
            .ok_or_else(|| {
                PortError::new(
                    PortErrorKind::Invalid,
                    "configuration",
                    format!("no hosting session for stage {}", stage.label()),
                )
            })
    }
}
