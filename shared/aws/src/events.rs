//! State-change events on the hosting account's default EventBridge bus: PutEvents,
//! with each entry's own result (the call can succeed while some entries fail).

use aws_config::SdkConfig;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};
use aws_smithy_types::DateTime;
use ferry_core::import::PortError;
use ferry_core::outbox::{BusEvent, EventBus, PutResult};

use crate::config::OnFirstUse;
use crate::error::port_error;

const OPERATION: &str = "events:PutEvents";

/// Entry error codes a later put may get past ([PutEventsResultEntry]).
const RETRYABLE: [&str; 2] = ["InternalFailure", "ThrottlingException"];

/// The default event bus (no `EventBusName`) of the client's account and Region.
#[derive(Clone)]
pub struct EventBridgeBus {
    client: OnFirstUse<aws_sdk_eventbridge::Client>,
}

impl EventBridgeBus {
    /// With `client`, built already.
    pub fn new(client: aws_sdk_eventbridge::Client) -> Self {
        Self {
            client: OnFirstUse::ready(client),
        }
    }

    /// With a client built from `config` on the first put.
    pub fn on_first_use(config: &SdkConfig) -> Self {
        Self {
            client: OnFirstUse::new(config, crate::config::eventbridge_client),
        }
    }
}

fn entry(event: &BusEvent) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source(&event.source)
        .detail_type(&event.detail_type)
        .detail(&event.detail)
        .set_resources(Some(event.resources.clone()))
        .time(DateTime::from_secs(
            i64::try_from(event.time).unwrap_or(i64::MAX),
        ))
        .build()
}

fn result(entry: &PutEventsResultEntry) -> PutResult {
    match (entry.event_id(), entry.error_code()) {
        (Some(id), None) => PutResult::Accepted(id.to_owned()),
        (_, code) => {
            let code = code.unwrap_or("no EventId and no ErrorCode");
            let message = entry.error_message().unwrap_or_default();
            PutResult::Refused {
                error: ferry_core::text::truncate(&format!("{code}: {message}"), 1_000)
                    .into_owned(),
                retryable: RETRYABLE.contains(&code),
            }
        }
    }
}

impl EventBus for EventBridgeBus {
    async fn put(&self, events: &[BusEvent]) -> Result<Vec<PutResult>, PortError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .get()
            .put_events()
            .set_entries(Some(events.iter().map(entry).collect()))
            .send()
            .await
            .map_err(|e| port_error(OPERATION, &e))?;
        Ok(out.entries().iter().map(result).collect())
    }
}
