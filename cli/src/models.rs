//! `ferry status`'s first table: one row per model (the versions of one folder name)
//! with its live and previous release, what one copy costs, and how long it has been
//! idle.

use std::io::Write;

use anyhow::Result;
use ferry_core::import::LedgerItem;
use ferry_core::release::{live_and_previous, parameter_name, Versions};
use ferry_core::track::after_import::{usd, AfterImport};
use ferry_core::track::Usage;
use serde::Serialize;

/// One model in `ferry status`.
#[derive(Debug, Serialize)]
pub struct ModelRow {
    pub model: String,
    pub parameter: String,
    pub live: Option<String>,
    pub live_arn: Option<String>,
    pub previous: Option<String>,
    /// Imported versions (Completed, Verified, SmokeFailed, Released, Retired).
    pub versions: usize,
    pub custom_model_units: Option<u32>,
    /// One running copy per 5-minute window, in US dollars (configured price).
    pub window_cost_usd: Option<String>,
    pub storage_month_usd: Option<String>,
    /// "used in the last day", "idle 1+ day(s)", "idle 7+ day(s)", "idle 30+ day(s)".
    pub idle: Option<String>,
}

/// The rows, in model order; idle time is read for live versions only (≤ 3
/// CloudWatch calls each).
pub async fn model_rows(
    items: &[LedgerItem],
    usage: &impl Usage,
    after: &AfterImport,
    now: u64,
) -> Vec<ModelRow> {
    let mut models: Vec<&str> = items
        .iter()
        .filter(|i| i.state.has_model() && i.model_arn.is_some())
        .map(|i| i.slug.as_str())
        .collect();
    models.sort_unstable();
    models.dedup();
    let mut rows = Vec::with_capacity(models.len());
    for model in models {
        let versions = Versions::of(model, items.iter().cloned());
        let (live, previous) = live_and_previous(&versions);
        let shown = live.or_else(|| versions.items.last());
        let units = shown.and_then(|i| i.custom_model_units);
        let idle = match live.and_then(|l| l.model_arn.as_deref()) {
            Some(arn) => idle_for(usage, arn, now).await,
            None => None,
        };
        rows.push(ModelRow {
            model: model.to_owned(),
            parameter: parameter_name(&after.parameter_prefix, model),
            live: live.map(|l| l.name.clone()),
            live_arn: live.and_then(|l| l.model_arn.clone()),
            previous: previous.map(|p| p.name.clone()),
            versions: versions.items.len(),
            custom_model_units: units,
            window_cost_usd: units.and_then(|u| after.prices.window_micros(u)).map(usd),
            storage_month_usd: units
                .and_then(|u| after.prices.storage_month_micros(u))
                .map(usd),
            idle,
        });
    }
    rows
}

/// How long the model has had no invocations, in steps of 1, 7 and 30 days.
async fn idle_for(usage: &impl Usage, arn: &str, now: u64) -> Option<String> {
    const DAY: u64 = 24 * 3600;
    let mut idle_since = None;
    for days in [1, 7, 30] {
        match usage
            .invocations(arn, now.saturating_sub(days * DAY), now)
            .await
        {
            Ok(0) => idle_since = Some(days),
            Ok(_) => break,
            Err(_) => return None,
        }
    }
    Some(match idle_since {
        None => "used in the last day".into(),
        Some(days) => format!("idle {days}+ day(s)"),
    })
}

pub fn write_models_text(out: &mut impl Write, rows: &[ModelRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "{:<24} {:<32} {:<32} {:>4} {:>10} {:>10}  idle",
        "model", "live", "previous", "CMU", "per 5 min", "storage/mo"
    )?;
    for r in rows {
        let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<24} {:<32} {:<32} {:>4} {:>10} {:>10}  {}",
            r.model,
            text(&r.live),
            text(&r.previous),
            r.custom_model_units.map_or("-".into(), |u| u.to_string()),
            text(&r.window_cost_usd),
            text(&r.storage_month_usd),
            text(&r.idle)
        )?;
    }
    let unpriced = rows
        .iter()
        .any(|r| r.custom_model_units.is_some() && r.window_cost_usd.is_none());
    if unpriced {
        writeln!(out, "(set FERRY_PRICE_PER_CMU_MINUTE and FERRY_STORAGE_PRICE_PER_CMU_MONTH for costs; estimates)")?;
    }
    for r in rows.iter().filter(|r| r.live.is_some()) {
        writeln!(
            out,
            "  {} = {}",
            r.parameter,
            r.live_arn.as_deref().unwrap_or("")
        )?;
    }
    writeln!(out)?;
    Ok(())
}
