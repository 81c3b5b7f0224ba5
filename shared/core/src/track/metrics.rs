//! CloudWatch Embedded Metric Format: one JSON log line per batch of metrics, turned
//! into metrics by CloudWatch Logs; no PutMetricData call.

use serde_json::{json, Map, Value};

pub(crate) const NAMESPACE: &str = "Ferry";

/// A metric's values (one or several, as EMF allows) with its unit (`Count`, `Seconds`).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The metric's name in the `Ferry` namespace (`ImportsCompleted`).
    pub name: &'static str,
    /// One value, or one per observation (each ended job's duration).
    pub values: Vec<f64>,
    /// A CloudWatch unit name.
    pub unit: &'static str,
}

impl Metric {
    /// A `Count` metric of the one value `n`.
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

/// How often one function called one AWS operation: `calls` as the code asked,
/// `attempts` as sent (retries included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCallCount {
    /// The service, as the SDK names it (`S3`).
    pub service: String,
    /// The operation, as the SDK names it (`HeadObject`).
    pub operation: String,
    /// Calls the code made.
    pub calls: u64,
    /// HTTP requests sent for them, retries included.
    pub attempts: u64,
}

/// EMF lines for API call counts, one per operation (its dimensions are values of the
/// line), so CloudWatch keeps one `ApiCalls` series per function, service and operation.
/// `ApiAttempts` rides along as a plain field for Logs Insights, not as a metric: each
/// series is billed as a custom metric, and retries show in the SDK's own logs too.
pub fn api_call_lines(function: &str, counts: &[ApiCallCount], now_ms: u64) -> Vec<String> {
    counts
        .iter()
        .map(|c| {
            json!({
                "_aws": {
                    "Timestamp": now_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [["Function", "Service", "Operation"]],
                        "Metrics": [{"Name": "ApiCalls", "Unit": "Count"}]
                    }]
                },
                "Function": function,
                "Service": c.service,
                "Operation": c.operation,
                "ApiCalls": c.calls,
                "ApiAttempts": c.attempts,
            })
            .to_string()
        })
        .collect()
}

/// The counts in EMF lines such as [`api_call_lines`] prints, summed by function,
/// service and operation; other lines are skipped. For benchmarks and tests reading a
/// function's log.
pub fn sum_api_call_lines<'a>(
    lines: impl IntoIterator<Item = &'a str>,
) -> std::collections::BTreeMap<(String, String, String), (u64, u64)> {
    let mut sums = std::collections::BTreeMap::new();
    for line in lines {
        let Ok(value) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        let (Some(function), Some(service), Some(operation), Some(calls)) = (
            value["Function"].as_str(),
            value["Service"].as_str(),
            value["Operation"].as_str(),
            value["ApiCalls"].as_u64(),
        ) else {
            continue;
        };
        let entry: &mut (u64, u64) = sums
            .entry((
                function.to_owned(),
                service.to_owned(),
                operation.to_owned(),
            ))
            .or_default();
        entry.0 += calls;
        entry.1 += value["ApiAttempts"].as_u64().unwrap_or(calls);
    }
    sums
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_call_lines_carry_one_series_per_operation_and_sum_back() {
        let counts = [
            super::ApiCallCount {
                service: "S3".into(),
                operation: "HeadObject".into(),
                calls: 3,
                attempts: 4,
            },
            super::ApiCallCount {
                service: "Bedrock".into(),
                operation: "CreateModelImportJob".into(),
                calls: 1,
                attempts: 1,
            },
        ];
        let lines = super::api_call_lines("importer", &counts, 1_700_000_000_000);
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Function", "Service", "Operation"]])
        );
        assert_eq!(v["Operation"], "HeadObject");
        assert_eq!(v["ApiAttempts"], 4);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            serde_json::json!([{"Name": "ApiCalls", "Unit": "Count"}]),
            "attempts are a field, not a billed metric"
        );
        let mut log: Vec<&str> = lines.iter().map(String::as_str).collect();
        log.push("{\"level\":\"INFO\",\"message\":\"not a metric\"}");
        log.push(&lines[0]);
        let sums = super::sum_api_call_lines(log);
        let key = |s: &str, o: &str| ("importer".to_owned(), s.to_owned(), o.to_owned());
        assert_eq!(sums[&key("S3", "HeadObject")], (6, 8));
        assert_eq!(sums[&key("Bedrock", "CreateModelImportJob")], (1, 1));
        assert_eq!(sums.len(), 2);
    }

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
