//! The ledger in DynamoDB: partition key `fingerprint`; a global secondary index
//! `by-state` (`state`, `created_at`) makes the oldest Pending item one Query.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
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
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            map.insert(key.into(), value);
        }
    }
    map
}

pub fn from_item(item: &Item) -> Result<LedgerItem, String> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let number = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
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
    })
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
        let expression = update_expression(update, &mut aliases);
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
fn update_expression(update: &LedgerUpdate, aliases: &mut Aliases) -> String {
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
    ] {
        if let Some(value) = value {
            sets.push(aliases.set(field, s(value)));
        }
    }
    if update.submitted {
        sets.push(aliases.set("submitted_at", n(update.now)));
    }
    if update.finished {
        sets.push(aliases.set("finished_at", n(update.now)));
    }
    if let Some(alerted) = update.set_alerted {
        sets.push(aliases.set("alerted", AttributeValue::Bool(alerted)));
    }
    if let Some(units) = update.set_custom_model_units {
        sets.push(aliases.set("custom_model_units", n(units)));
    }
    if let Some(lease) = update.set_lease {
        sets.push(aliases.set("lease_until", n(lease)));
    }
    let mut expression = format!("SET {}", sets.join(", "));
    let adds: Vec<&str> = [
        ("attempts", update.add_attempt),
        ("retry", update.add_retry),
    ]
    .into_iter()
    .filter_map(|(field, on)| on.then_some(field))
    .collect();
    if !adds.is_empty() {
        for field in &adds {
            aliases
                .names
                .insert(format!("#{field}"), (*field).to_owned());
        }
        let parts: Vec<String> = adds.iter().map(|f| format!("#{f} :one")).collect();
        expression.push_str(&format!(" ADD {}", parts.join(", ")));
        aliases.values.insert(":one".into(), n(1));
    }
    expression
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
    condition
}
