//! CloudWatch Embedded Metric Format: one JSON log line per batch of metrics, turned
//! into metrics by CloudWatch Logs; no PutMetricData call.

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "Ferry";

/// A metric's values (one or several, as EMF allows) with its unit (`Count`, `Seconds`).
pub struct Metric {
    pub name: &'static str,
    pub values: Vec<f64>,
    pub unit: &'static str,
}

impl Metric {
    pub fn count(name: &'static str, n: usize) -> Self {
        Self {
            name,
            values: vec![n as f64],
            unit: "Count",
        }
    }
}

/// The EMF line for `metrics`, with no dimensions (one series per metric), at `now_ms`.
pub fn emf_line(metrics: &[Metric], now_ms: u64) -> String {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|m| json!({"Name": m.name, "Unit": m.unit}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [[]], "Metrics": definitions}]
        }),
    );
    for m in metrics {
        let value = match m.values.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        root.insert(m.name.into(), value);
    }
    Value::Object(root).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_emf_line_declares_every_value_it_carries() {
        let line = super::emf_line(
            &[
                super::Metric::count("ImportsCompleted", 2),
                super::Metric {
                    name: "ImportJobSeconds",
                    values: vec![60.0, 90.0],
                    unit: "Seconds",
                },
            ],
            1_700_000_000_000,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Ferry");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Name"],
            "ImportJobSeconds"
        );
        assert_eq!(v["ImportsCompleted"], 2.0);
        assert_eq!(v["ImportJobSeconds"], serde_json::json!([60.0, 90.0]));
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
    }
}
