//! The restJson1 side: Bedrock's documented input patterns and its error shapes.

use std::sync::OnceLock;
use std::time::SystemTime;

use regex_lite::Regex;
use serde_json::{json, Value};

/// An error as Bedrock sends it: the status, `x-amzn-errortype`, a JSON message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationException", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(400, "ConflictException", message)
    }
    pub fn quota(message: impl Into<String>) -> Self {
        Self::new(400, "ServiceQuotaExceededException", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "ResourceNotFoundException", message)
    }
    pub fn throttling() -> Self {
        Self::new(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        )
    }
    pub fn internal() -> Self {
        Self::new(
            500,
            "InternalServerException",
            "An internal server error occurred. Retry your request.",
        )
    }
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }
    pub fn body(&self) -> Value {
        json!({"message": self.message})
    }
}

fn pattern(cell: &'static OnceLock<Regex>, source: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(source).unwrap_or_else(|e| panic!("pattern {source}: {e}")))
}

/// Bedrock's message for a field that breaks its pattern.
fn broken(field: &str, value: &str, constraint: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
    ))
}

fn check(field: &str, value: &str, min: usize, max: usize, re: &Regex) -> Result<(), ApiError> {
    let len = value.chars().count();
    if len < min || len > max {
        return Err(broken(
            field,
            value,
            &format!("Member must have length between {min} and {max}"),
        ));
    }
    if !re.is_match(value) {
        return Err(broken(
            field,
            value,
            &format!(
                "Member must satisfy regular expression pattern: {}",
                re.as_str().trim_start_matches('^').trim_end_matches('$')
            ),
        ));
    }
    Ok(())
}

pub fn check_job_name(v: &str) -> Result<(), ApiError> {
    static RE: OnceLock<Regex> = OnceLock::new();
    check(
        "jobName",
        v,
        1,
        63,
        pattern(&RE, r"^[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*$"),
    )
}

pub fn check_model_name(v: &str) -> Result<(), ApiError> {
    static RE: OnceLock<Regex> = OnceLock::new();
    check(
        "importedModelName",
        v,
        1,
        63,
        pattern(&RE, r"^([0-9a-zA-Z][_-]?)+$"),
    )
}

pub fn check_role_arn(v: &str) -> Result<(), ApiError> {
    static RE: OnceLock<Regex> = OnceLock::new();
    check(
        "roleArn",
        v,
        0,
        2048,
        pattern(&RE, r"^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$"),
    )
}

pub fn check_s3_uri(v: &str) -> Result<(), ApiError> {
    static RE: OnceLock<Regex> = OnceLock::new();
    check(
        "modelDataSource.s3DataSource.s3Uri",
        v,
        1,
        1024,
        pattern(
            &RE,
            r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?$",
        ),
    )
}

pub fn check_token(v: &str) -> Result<(), ApiError> {
    static RE: OnceLock<Regex> = OnceLock::new();
    check(
        "clientRequestToken",
        v,
        1,
        256,
        pattern(&RE, r"^[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?$"),
    )
}

/// `[{key, value}]`, 0-200 of them.
pub fn check_tags(field: &str, tags: &[(String, String)]) -> Result<(), ApiError> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = pattern(&RE, r"^[a-zA-Z0-9\s._:/=+@-]*$");
    if tags.len() > 200 {
        return Err(ApiError::new(
            400,
            "TooManyTagsException",
            format!("{field}: at most 200 tags"),
        ));
    }
    for (key, value) in tags {
        check(&format!("{field}.member.key"), key, 1, 128, re)?;
        check(&format!("{field}.member.value"), value, 0, 256, re)?;
    }
    Ok(())
}

pub fn tags_from(value: &Value, field: &str) -> Result<Vec<(String, String)>, ApiError> {
    let Some(items) = value.get(field) else {
        return Ok(Vec::new());
    };
    let items = items
        .as_array()
        .ok_or_else(|| ApiError::validation(format!("{field} must be a list")))?;
    items
        .iter()
        .map(|t| match (t["key"].as_str(), t["value"].as_str()) {
            (Some(k), Some(v)) => Ok((k.to_owned(), v.to_owned())),
            _ => Err(ApiError::validation(format!(
                "{field}: every tag needs a key and a value"
            ))),
        })
        .collect()
}

pub fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_the_service_model() {
        assert!(check_job_name("ferry-llama-20261122-ab12cd34").is_ok());
        assert!(check_job_name("-x").is_err());
        assert!(check_model_name("llama-3_1").is_ok());
        assert!(check_model_name("llama--3").is_err());
        assert!(check_model_name("llama.3").is_err());
        assert!(check_role_arn("arn:aws:iam::777788889999:role/R").is_ok());
        assert!(check_role_arn("arn:aws:iam::7777:role/R").is_err());
        assert!(check_s3_uri("s3://bucket/models/llama/").is_ok());
        assert!(check_s3_uri("s3://bucket/models/my model/").is_err());
        assert!(check_token("a".repeat(64).as_str()).is_ok());
        assert!(check_token("-a").is_err());
        let err = check_model_name("x".repeat(64).as_str()).unwrap_err();
        assert!(
            err.message.contains("length between 1 and 63"),
            "{}",
            err.message
        );
    }
}
