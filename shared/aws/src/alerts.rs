//! Alerts on an SNS topic in the hosting account.

use aws_sdk_sns::Client;
use ferry_core::import::{Alert, Alerts, PortError};

use crate::error::port_error;

#[derive(Clone)]
pub struct SnsAlerts {
    client: Client,
    topic_arn: String,
}

impl SnsAlerts {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl Alerts for SnsAlerts {
    async fn publish(&self, alert: &Alert) -> Result<(), PortError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&alert.subject)
            .message(&alert.body)
            .send()
            .await
            .map_err(|e| port_error("sns:Publish", &e))?;
        Ok(())
    }
}
