//! The ledger in DynamoDB: partition key `fingerprint`; a global secondary index
//! `by-state` (`state`, `created_at`) makes the oldest Pending item one Query.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use ferry_core::import::ledger::{SmokeRecord, StateChange};
use ferry_core::import::{ImportState, Ledger, LedgerItem, LedgerUpdate, PortError, PortErrorKind};

use crate::error::port_error;

/// The index the queue is read from.
pub const STATE_INDEX: &str = "by-state";

#[derive(Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
}

impl DynamoLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn to_item(item: &LedgerItem) -> Item {
    let mut map = Item::from([
        ("fingerprint".into(), s(&item.fingerprint)),
        ("state".into(), s(item.state.as_str())),
        ("source_uri".into(), s(&item.source_uri)),
        ("slug".into(), s(&item.slug)),
        ("name".into(), s(&item.name)),
        ("created_at".into(), n(item.created_at)),
        ("updated_at".into(), n(item.updated_at)),
        ("attempts".into(), n(item.attempts)),
        ("retry".into(), n(item.retry)),
        ("alerted".into(), AttributeValue::Bool(item.alerted)),
        ("history".into(), history_value(&item.history)),
        ("events_sent".into(), n(item.events_sent)),
    ]);
    let optional = [
        ("submitted_at", item.submitted_at.map(n)),
        ("finished_at", item.finished_at.map(n)),
        ("job_arn", item.job_arn.as_deref().map(s)),
        ("model_arn", item.model_arn.as_deref().map(s)),
        ("failure", item.failure.as_deref().map(s)),
        ("lease_until", item.lease_until.map(n)),
        ("architecture", item.architecture.as_deref().map(s)),
        ("custom_model_units", item.custom_model_units.map(n)),
        ("events_lease_until", item.events_lease_until.map(n)),
        ("released_at", item.released_at.map(n)),
        ("replaced", item.replaced.as_deref().map(s)),
        ("stage", item.stage.as_deref().map(s)),
        (
            "smoke",
            (item.smoke != SmokeRecord::default()).then(|| smoke_value(&item.smoke)),
        ),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            map.insert(key.into(), value);
        }
    }
    map
}

pub fn from_item(item: &Item) -> Result<LedgerItem, String> {
    let text = |k: &str| text_in(item, k);
    let number = |k: &str| number_in(item, k);
    let required = |k: &str| text(k).ok_or_else(|| format!("ledger item lacks {k}"));
    let state = required("state")?;
    Ok(LedgerItem {
        fingerprint: required("fingerprint")?,
        state: ImportState::parse(&state)
            .ok_or_else(|| format!("ledger item has unknown state {state:?}"))?,
        source_uri: required("source_uri")?,
        slug: required("slug")?,
        name: required("name")?,
        created_at: number("created_at").unwrap_or(0),
        updated_at: number("updated_at").unwrap_or(0),
        submitted_at: number("submitted_at"),
        finished_at: number("finished_at"),
        job_arn: text("job_arn"),
        model_arn: text("model_arn"),
        failure: text("failure"),
        attempts: number("attempts")
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        alerted: item
            .get("alerted")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        lease_until: number("lease_until"),
        retry: number("retry")
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0),
        architecture: text("architecture"),
        custom_model_units: number("custom_model_units").and_then(|u| u32::try_from(u).ok()),
        // Items written before the outbox have no history and sent no events.
        history: item
            .get("history")
            .map(history_of)
            .transpose()?
            .unwrap_or_default(),
        events_sent: number("events_sent")
            .and_then(|e| u32::try_from(e).ok())
            .unwrap_or(0),
        events_lease_until: number("events_lease_until"),
        smoke: item
            .get("smoke")
            .and_then(|v| v.as_m().ok())
            .map(smoke_of)
            .unwrap_or_default(),
        released_at: number("released_at"),
        replaced: text("replaced"),
        stage: text("stage"),
    })
}

/// A history entry as a map: `state`, `previous` (not for the first), `at`, `note`.
fn change_value(change: &StateChange) -> AttributeValue {
    let mut map = Item::from([
        ("state".into(), s(change.state.as_str())),
        ("at".into(), n(change.at)),
    ]);
    if let Some(previous) = change.previous {
        map.insert("previous".into(), s(previous.as_str()));
    }
    if let Some(note) = &change.note {
        map.insert("note".into(), s(note));
    }
    AttributeValue::M(map)
}

fn history_value(history: &[StateChange]) -> AttributeValue {
    AttributeValue::L(history.iter().map(change_value).collect())
}

fn state_of(value: Option<&AttributeValue>) -> Result<Option<ImportState>, String> {
    let Some(text) = value.and_then(|v| v.as_s().ok()) else {
        return Ok(None);
    };
    ImportState::parse(text)
        .map(Some)
        .ok_or_else(|| format!("ledger history has unknown state {text:?}"))
}

fn history_of(value: &AttributeValue) -> Result<Vec<StateChange>, String> {
    let entries = value
        .as_l()
        .map_err(|_| "ledger item's history is not a list".to_owned())?;
    entries
        .iter()
        .map(|entry| {
            let map = entry
                .as_m()
                .map_err(|_| "ledger history entry is not a map".to_owned())?;
            Ok(StateChange {
                state: state_of(map.get("state"))?
                    .ok_or_else(|| "ledger history entry lacks state".to_owned())?,
                previous: state_of(map.get("previous"))?,
                at: number_in(map, "at").unwrap_or(0),
                note: map.get("note").and_then(|v| v.as_s().ok()).cloned(),
            })
        })
        .collect()
}

fn text_in(map: &Item, key: &str) -> Option<String> {
    map.get(key).and_then(|v| v.as_s().ok()).cloned()
}

fn number_in(map: &Item, key: &str) -> Option<u64> {
    map.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// The smoke record as a map; absent fields are left out.
fn smoke_value(smoke: &SmokeRecord) -> AttributeValue {
    let mut map = Item::from([("attempts".into(), n(smoke.attempts))]);
    let optional = [
        ("passed", smoke.passed.map(AttributeValue::Bool)),
        ("answer", smoke.answer.as_deref().map(s)),
        ("latency_ms", smoke.latency_ms.map(n)),
        ("first_answer_secs", smoke.first_answer_secs.map(n)),
        ("last_error", smoke.last_error.as_deref().map(s)),
        ("format", smoke.format.as_deref().map(s)),
        ("first_attempt_at", smoke.first_attempt_at.map(n)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            map.insert(key.into(), value);
        }
    }
    AttributeValue::M(map)
}

fn smoke_of(map: &Item) -> SmokeRecord {
    let text = |k: &str| text_in(map, k);
    SmokeRecord {
        passed: map.get("passed").and_then(|v| v.as_bool().ok()).copied(),
        answer: text("answer"),
        latency_ms: number_in(map, "latency_ms"),
        attempts: number_in(map, "attempts")
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        first_answer_secs: number_in(map, "first_answer_secs"),
        last_error: text("last_error"),
        format: text("format"),
        first_attempt_at: number_in(map, "first_attempt_at"),
    }
}

fn corrupt(operation: &str, message: String) -> PortError {
    PortError::new(PortErrorKind::Other, operation, message)
}

impl Ledger for DynamoLedger {
    async fn get(&self, fingerprint: &str) -> Result<Option<LedgerItem>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("fingerprint", s(fingerprint))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:GetItem", &e))?;
        out.item()
            .map(from_item)
            .transpose()
            .map_err(|m| corrupt("dynamodb:GetItem", m))
    }

    async fn insert_new(&self, item: &LedgerItem) -> Result<bool, PortError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(item)))
            .condition_expression("attribute_not_exists(fingerprint)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(port_error("dynamodb:PutItem", &e)),
        }
    }

    async fn transition(
        &self,
        fingerprint: &str,
        from: ImportState,
        update: &LedgerUpdate,
    ) -> Result<bool, PortError> {
        let mut aliases = Aliases::new(from);
        let expression = update_expression(update, from, &mut aliases);
        let condition = condition_expression(update, &mut aliases);
        let Aliases { names, values } = aliases;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("fingerprint", s(fingerprint))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => {
                tracing::debug!(request_id = ?e.request_id(), "UpdateItem failed");
                Err(port_error("dynamodb:UpdateItem", &e))
            }
        }
    }

    async fn oldest_pending(&self) -> Result<Option<LedgerItem>, PortError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(STATE_INDEX)
            .key_condition_expression("#state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(ImportState::Pending.as_str()))
            .scan_index_forward(true)
            .limit(1)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:Query", &e))?;
        out.items()
            .first()
            .map(from_item)
            .transpose()
            .map_err(|m| corrupt("dynamodb:Query", m))
    }

    async fn items_in_state(&self, state: ImportState) -> Result<Vec<LedgerItem>, PortError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(STATE_INDEX)
            .key_condition_expression("#state = :state")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", s(state.as_str()))
            .scan_index_forward(true)
            .into_paginator()
            .items()
            .send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| port_error("dynamodb:Query", &e))?;
            items.push(from_item(&item).map_err(|m| corrupt("dynamodb:Query", m))?);
        }
        Ok(items)
    }
}

/// The names and values of an UpdateItem's expressions. Every attribute goes through
/// an alias: several (`name`, `state`) are DynamoDB reserved words.
struct Aliases {
    names: HashMap<String, String>,
    values: Item,
}

impl Aliases {
    /// `:from`, the state the item must still be in.
    fn new(from: ImportState) -> Self {
        Self {
            names: HashMap::new(),
            values: Item::from([(":from".into(), s(from.as_str()))]),
        }
    }

    /// `#field = :field`, with both aliases recorded.
    fn set(&mut self, field: &str, value: AttributeValue) -> String {
        self.names.insert(format!("#{field}"), field.to_owned());
        self.values.insert(format!(":{field}"), value);
        format!("#{field} = :{field}")
    }
}

/// `SET …` of every field the update changes, then `ADD …` of its counters.
fn update_expression(update: &LedgerUpdate, from: ImportState, aliases: &mut Aliases) -> String {
    let mut sets = vec![aliases.set("updated_at", n(update.now))];
    if let Some(state) = update.state {
        sets.push(aliases.set("state", s(state.as_str())));
    }
    for (field, value) in [
        ("job_arn", &update.job_arn),
        ("model_arn", &update.model_arn),
        ("failure", &update.failure),
        ("name", &update.set_name),
        ("architecture", &update.set_architecture),
        ("replaced", &update.set_replaced),
    ] {
        if let Some(value) = value {
            sets.push(aliases.set(field, s(value)));
        }
    }
    let numbers = [
        ("submitted_at", update.submitted.then_some(update.now)),
        ("finished_at", update.finished.then_some(update.now)),
        ("released_at", update.set_released_at),
        (
            "custom_model_units",
            update.set_custom_model_units.map(u64::from),
        ),
        ("lease_until", update.set_lease),
        ("events_sent", update.set_events_sent.map(u64::from)),
        ("events_lease_until", update.set_events_lease),
    ];
    for (field, value) in numbers {
        if let Some(value) = value {
            sets.push(aliases.set(field, n(value)));
        }
    }
    if let Some(alerted) = update.set_alerted {
        sets.push(aliases.set("alerted", AttributeValue::Bool(alerted)));
    }
    if let Some(smoke) = &update.set_smoke {
        sets.push(aliases.set("smoke", smoke_value(smoke)));
    }
    if let Some(change) = update.state_change(from) {
        sets.push(append_history(&change, aliases));
    }
    let mut expression = format!("SET {}", sets.join(", "));
    expression.push_str(&counters(update, aliases));
    expression
}

/// `#history = list_append(…)`: the change after the entries there are (none on an
/// item written before the outbox).
fn append_history(change: &StateChange, aliases: &mut Aliases) -> String {
    aliases.names.insert("#history".into(), "history".into());
    aliases
        .values
        .insert(":no_history".into(), AttributeValue::L(Vec::new()));
    aliases.values.insert(
        ":change".into(),
        AttributeValue::L(vec![change_value(change)]),
    );
    "#history = list_append(if_not_exists(#history, :no_history), :change)".to_owned()
}

/// ` ADD …` of the counters the update counts up; empty when none.
fn counters(update: &LedgerUpdate, aliases: &mut Aliases) -> String {
    let adds: Vec<&str> = [
        ("attempts", update.add_attempt),
        ("retry", update.add_retry),
    ]
    .into_iter()
    .filter_map(|(field, on)| on.then_some(field))
    .collect();
    if adds.is_empty() {
        return String::new();
    }
    for field in &adds {
        aliases
            .names
            .insert(format!("#{field}"), (*field).to_owned());
    }
    aliases.values.insert(":one".into(), n(1));
    let parts: Vec<String> = adds.iter().map(|f| format!("#{f} :one")).collect();
    format!(" ADD {}", parts.join(", "))
}

/// `events_sent` equals `sent` (bound to `placeholder`); an item written before the
/// outbox has no count, which means none sent. Also names the events lease.
fn events_sent_is(sent: u32, placeholder: &str, aliases: &mut Aliases) -> String {
    aliases
        .names
        .insert("#events_sent".into(), "events_sent".into());
    aliases
        .names
        .insert("#events_lease_until".into(), "events_lease_until".into());
    aliases.values.insert(placeholder.into(), n(sent));
    if sent == 0 {
        format!("(attribute_not_exists(#events_sent) OR #events_sent = {placeholder})")
    } else {
        format!("#events_sent = {placeholder}")
    }
}

/// The item exists and is still in `:from`; and, when the update asks, its alert is
/// not sent yet and no lease is held.
fn condition_expression(update: &LedgerUpdate, aliases: &mut Aliases) -> String {
    let names = &mut aliases.names;
    let values = &mut aliases.values;
    names.insert("#state".into(), "state".into());
    names.insert("#fingerprint".into(), "fingerprint".into());
    let mut condition = "attribute_exists(#fingerprint) AND #state = :from".to_owned();
    if update.expect_unalerted {
        names.insert("#alerted".into(), "alerted".into());
        condition.push_str(" AND (attribute_not_exists(#alerted) OR #alerted = :unalerted)");
        values.insert(":unalerted".into(), AttributeValue::Bool(false));
    }
    if let Some(now) = update.expect_lease_free_at {
        names.insert("#lease_until".into(), "lease_until".into());
        condition
            .push_str(" AND (attribute_not_exists(#lease_until) OR #lease_until < :lease_now)");
        values.insert(":lease_now".into(), n(now));
    }
    if let Some((now, sent)) = update.expect_events_free {
        let sent_matches = events_sent_is(sent, ":events_sent_before", aliases);
        aliases.values.insert(":events_now".into(), n(now));
        condition.push_str(&format!(
            " AND {sent_matches} AND (attribute_not_exists(#events_lease_until) OR #events_lease_until < :events_now)"
        ));
    }
    if let Some((until, sent)) = update.expect_events_held {
        let sent_matches = events_sent_is(sent, ":events_held_sent", aliases);
        aliases.values.insert(":events_held_until".into(), n(until));
        condition.push_str(&format!(
            " AND {sent_matches} AND #events_lease_until = :events_held_until"
        ));
    }
    condition
}
