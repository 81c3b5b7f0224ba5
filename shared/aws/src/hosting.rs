//! The hosting account, reached through `sts:AssumeRole` on its automation role.
//! Clients are cached across warm invocations until shortly before the credentials
//! expire.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_sts::config::{Credentials, Region, SharedCredentialsProvider};
use ferry_core::import::{Hosting, PortError, PortErrorKind};
use tokio::sync::Mutex;

use crate::alerts::SnsAlerts;
use crate::bedrock::BedrockImports;
use crate::error::port_error;
use crate::events::EventBridgeBus;
use crate::ledger::DynamoLedger;

/// Credentials are renewed when less than this is left.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

pub type HostingPorts = Hosting<DynamoLedger, BedrockImports, SnsAlerts, EventBridgeBus>;

/// Where the hosting account's resources are.
#[derive(Debug, Clone)]
pub struct HostingTarget {
    pub role_arn: String,
    pub external_id: String,
    pub region: Option<String>,
    pub ledger_table: String,
    pub alert_topic_arn: String,
}

pub struct HostingSession {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    target: HostingTarget,
    cached: Mutex<Option<(HostingPorts, SdkConfig, SystemTime)>>,
}

impl HostingSession {
    pub fn new(base: SdkConfig, sts: aws_sdk_sts::Client, target: HostingTarget) -> Self {
        Self {
            base,
            sts,
            target,
            cached: Mutex::new(None),
        }
    }

    /// The hosting ports, assuming the role when there are no fresh credentials.
    /// `session` (the fingerprint) goes into the role session name: CloudTrail in the
    /// hosting account shows the import that assumed the role. The credentials are
    /// reused by later imports of the same warm container until they near expiry, so
    /// the session name identifies the first import of that period, not every call.
    pub async fn ports(&self, session: &str) -> Result<HostingPorts, PortError> {
        Ok(self.session(session).await?.0)
    }

    /// The SDK configuration with the hosting role's credentials (for the access
    /// checker's reads), from the same cache as [`Self::ports`].
    pub async fn config(&self, session: &str) -> Result<SdkConfig, PortError> {
        Ok(self.session(session).await?.1)
    }

    async fn session(&self, session: &str) -> Result<(HostingPorts, SdkConfig), PortError> {
        let mut cached = self.cached.lock().await;
        if let Some((ports, config, expires)) = cached.as_ref() {
            if SystemTime::now() + REFRESH_MARGIN < *expires {
                return Ok((clone_ports(ports), config.clone()));
            }
        }
        let session_name = session_name(session);
        let (config, expires) = assume_role(
            &self.base,
            &self.sts,
            &self.target.role_arn,
            Some(&self.target.external_id),
            &session_name,
            self.target.region.as_deref(),
        )
        .await
        .map_err(|mut err| {
            err.message = format!(
                "{}; check the role's trust policy (the importer's role as principal, sts:ExternalId) and the \
                 importer's sts:AssumeRole permission",
                err.message
            );
            err
        })?;
        let ports = Hosting {
            ledger: DynamoLedger::new(
                crate::config::dynamodb_client(&config),
                &self.target.ledger_table,
            ),
            imports: BedrockImports::new(crate::config::bedrock_client(&config)),
            alerts: SnsAlerts::new(
                crate::config::sns_client(&config),
                &self.target.alert_topic_arn,
            ),
            // Built at the first put, once per assumed session (the bus of the role's
            // account and Region, as the other clients).
            events: EventBridgeBus::on_first_use(&config),
            clock: crate::clock::now_secs,
        };
        tracing::info!(role = %self.target.role_arn, session = %session_name, "assumed the hosting role");
        *cached = Some((clone_ports(&ports), config.clone(), expires));
        Ok((ports, config))
    }
}

/// Assumes `role_arn` and returns `base` with the role's credentials (and `region`,
/// when given), plus when they expire. Clients are built from the returned credentials:
/// an `AssumeRoleProvider` would not carry a custom endpoint to its STS client.
pub async fn assume_role(
    base: &SdkConfig,
    sts: &aws_sdk_sts::Client,
    role_arn: &str,
    external_id: Option<&str>,
    session_name: &str,
    region: Option<&str>,
) -> Result<(SdkConfig, SystemTime), PortError> {
    let out = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session_name)
        .set_external_id(external_id.map(str::to_owned))
        .send()
        .await
        .map_err(|e| {
            let mut err = port_error("sts:AssumeRole", &e);
            err.message = format!(
                "could not assume {role_arn} (session {session_name}): {}",
                err.message
            );
            err
        })?;
    let creds = out.credentials().ok_or_else(|| {
        PortError::new(
            PortErrorKind::Other,
            "sts:AssumeRole",
            "the response carried no credentials",
        )
    })?;
    let expires = SystemTime::try_from(*creds.expiration()).unwrap_or_else(|_| SystemTime::now());
    let credentials = Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_owned()),
        Some(expires),
        "ferry-assumed-role",
    );
    let mut builder = base.to_builder();
    // Well inside the start lease (120 s), so a stuck call cannot outlive it.
    builder.set_timeout_config(Some(
        aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(Duration::from_secs(60))
            .operation_attempt_timeout(Duration::from_secs(20))
            .build(),
    ));
    builder.set_credentials_provider(Some(SharedCredentialsProvider::new(credentials)));
    if let Some(region) = region {
        builder.set_region(Some(Region::new(region.to_owned())));
    }
    Ok((builder.build(), expires))
}

fn clone_ports(ports: &HostingPorts) -> HostingPorts {
    Hosting {
        ledger: ports.ledger.clone(),
        imports: ports.imports.clone(),
        alerts: ports.alerts.clone(),
        events: ports.events.clone(),
        clock: ports.clock,
    }
}

/// `ferry-` and the start of the fingerprint; role session names allow
/// `[\w+=,.@-]`, 2 to 64 characters.
pub fn session_name(session: &str) -> String {
    let clean: String = session
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c))
        .take(58)
        .collect();
    format!("ferry-{clean}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_names_fit_the_pattern() {
        assert_eq!(super::session_name("abc/def"), "ferry-abcdef");
        assert_eq!(super::session_name(&"f".repeat(64)).len(), 64);
    }
}
