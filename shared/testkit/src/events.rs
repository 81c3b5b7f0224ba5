//! Ferry's state-change events read back: a consumer's rule on the default event bus
//! (`source` ferry, its detail-type) with an SQS queue target, as an application
//! team would subscribe, and a drain of that queue.

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use serde_json::Value;

/// The rule's event pattern: every Ferry state change and nothing else.
pub const PATTERN: &str = r#"{"source": ["ferry"], "detail-type": ["Ferry Import State Change"]}"#;

/// Creates queue `name` and a rule of the same name on the default bus that sends it
/// every Ferry state change; the queue's URL.
pub async fn subscribe(config: &SdkConfig, name: &str) -> Result<String> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .with_context(|| format!("creating queue {name}"))?
        .queue_url()
        .context("no queue URL")?
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .context("reading the queue's ARN")?
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .context("no queue ARN")?
        .clone();
    let events = aws_sdk_eventbridge::Client::new(config);
    events
        .put_rule()
        .name(name)
        .event_pattern(PATTERN)
        .send()
        .await
        .with_context(|| format!("creating rule {name}"))?;
    events
        .put_targets()
        .rule(name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("inbox")
                .arn(arn)
                .build()
                .context("the rule's target")?,
        )
        .send()
        .await
        .with_context(|| format!("targeting rule {name} at its queue"))?;
    Ok(url)
}

/// Every event in the queue at `url`, parsed, oldest first as delivered; the queue is
/// left empty.
pub async fn drain(config: &SdkConfig, url: &str) -> Result<Vec<Value>> {
    drain_bodies(config, url)
        .await?
        .iter()
        .map(|body| serde_json::from_str(body).context("an event that is not JSON"))
        .collect()
}

/// Every message body in the queue at `url`, oldest first as delivered; the queue is
/// left empty.
pub async fn drain_bodies(config: &SdkConfig, url: &str) -> Result<Vec<String>> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut bodies = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .with_context(|| format!("receiving from {url}"))?;
        if received.messages().is_empty() {
            return Ok(bodies);
        }
        for message in received.messages() {
            bodies.push(message.body().unwrap_or_default().to_owned());
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .with_context(|| format!("deleting a message read from {url}"))?;
            }
        }
    }
}
