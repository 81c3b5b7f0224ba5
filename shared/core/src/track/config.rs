//! The tracker's configuration, from environment variables, checked all at once.

use crate::import::config::{check_arn, start_options, ConfigError};
use crate::import::StartConfig;

use super::after_import::AfterImport;
use super::cleanup::CleanupRules;

/// The tracker's configuration, read by [`TrackerConfig::from_env`] from the variables
/// in [`VARIABLES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerConfig {
    /// The ledger's DynamoDB table (`FERRY_LEDGER_TABLE`).
    pub ledger_table: String,
    /// The SNS topic alerts go to (`FERRY_ALERT_TOPIC_ARN`).
    pub alert_topic_arn: String,
    /// What starting a queued import needs: the execution role, the imported model's KMS
    /// key, the VPC (as for the importer).
    pub start: StartConfig,
    /// Alert when an import completes, not only when it fails.
    pub notify_completed: bool,
    /// A job running longer than this is reported once.
    pub max_job_seconds: u64,
    /// The rules of the daily cleanup and of freeing a model for the queue.
    pub cleanup: CleanupRules,
    /// The account's imported-models quota, when configured: a queued import frees a
    /// model before it would exceed it. Unset: a model is freed only when Bedrock
    /// refuses a job for the quota.
    pub models_quota: Option<usize>,
    /// The region of the imports (for the failure diagnosis).
    pub region: Option<String>,
    /// The research account, which the failure diagnosis names: the tracker's own
    /// credentials are of the hosting account.
    pub research_account: Option<String>,
    /// The smoke test, the release rule and the prices.
    pub after_import: AfterImport,
}

/// Every variable, for the README's table and for error messages.
pub const VARIABLES: &[(&str, bool, &str)] = &[
    ("FERRY_LEDGER_TABLE", true, "the ledger's DynamoDB table"),
    ("FERRY_ALERT_TOPIC_ARN", true, "the SNS topic for failures, completions, deletions"),
    ("FERRY_EXECUTION_ROLE_ARN", true, "the Custom Model Import execution role passed to Bedrock when a queued import starts"),
    ("FERRY_IMPORTED_MODEL_KMS_KEY_ARN", false, "as for the importer"),
    ("FERRY_VPC_SUBNET_IDS", false, "as for the importer"),
    ("FERRY_VPC_SECURITY_GROUP_IDS", false, "as for the importer"),
    ("FERRY_RESEARCH_ACCOUNT_ID", false, "the research account that holds the weights: the access check that diagnoses a failed job needs it (unset: the check does not run)"),
    ("FERRY_NOTIFY_COMPLETED", false, "on (default) or off: alert when an import completes"),
    ("FERRY_MAX_JOB_HOURS", false, "a job running longer is reported once (default 6)"),
    ("FERRY_CLEANUP", false, "on (default) or off: the daily cleanup deletes idle models (off: it only plans)"),
    ("FERRY_CLEANUP_MIN_AGE_DAYS", false, "a model younger than this is never deleted (default 7)"),
    ("FERRY_CLEANUP_IDLE_DAYS", false, "a model with no Invocations in this many days is idle (default 14)"),
    ("FERRY_CLEANUP_KEEP", false, "the newest versions of each model that are always kept (default 1)"),
    ("FERRY_CLEANUP_NAME_PATTERN", false, "also consider models not imported by Ferry whose name matches this pattern (* and ?)"),
    ("FERRY_IMPORTED_MODELS_QUOTA", false, "the account's imported-models quota (AWS's default is 3): a queued import frees the idlest candidate before it would exceed it; unset, only when Bedrock refuses a job for the quota"),
    ("FERRY_SMOKE_TEST", false, "on (default) or off: invoke each new model once after its import completes"),
    ("FERRY_SMOKE_PROMPT", false, "the smoke test's prompt (default: \"Reply with the single word: ready\")"),
    ("FERRY_SMOKE_MAX_TOKENS", false, "the smoke test's token limit, 1 to 4096 (default 16)"),
    ("FERRY_SMOKE_DEADLINE_MINUTES", false, "how long after the job's end a model may stay not ready before its smoke test fails (default 15)"),
    ("FERRY_SMOKE_FORMAT", false, "force a request body: BedrockCompletionMaxGenLen, BedrockCompletionMaxTokens or OpenAiChatCompletion (default: by architecture)"),
    ("FERRY_RELEASE", false, "auto (default): a version that passes its smoke test becomes live; manual: only `ferry release`"),
    ("FERRY_RELEASE_PARAMETER_PREFIX", false, "where the release parameters live (default /ferry: /ferry/<model>/live)"),
    ("FERRY_PRICE_PER_CMU_MINUTE", false, "US dollars per Custom Model Unit per minute, from the Bedrock pricing page: alerts and `ferry status` show the cost of a 5-minute window"),
    ("FERRY_STORAGE_PRICE_PER_CMU_MONTH", false, "US dollars per Custom Model Unit per month of storage: alerts and `ferry status` show the month's storage charge"),
];

const DAY: u64 = 24 * 3600;

impl TrackerConfig {
    /// Reads the configuration through `get` (`std::env::var` in production); every
    /// problem at once.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();
        let mut required = |name: &str| {
            get(name).unwrap_or_else(|| {
                problems.push(format!("{name} is not set"));
                String::new()
            })
        };
        let ledger_table = required("FERRY_LEDGER_TABLE");
        let alert_topic_arn = required("FERRY_ALERT_TOPIC_ARN");
        let execution_role_arn = required("FERRY_EXECUTION_ROLE_ARN");
        check_arn(
            &mut problems,
            "FERRY_EXECUTION_ROLE_ARN",
            &execution_role_arn,
            "iam",
            "role/",
        );
        check_arn(
            &mut problems,
            "FERRY_ALERT_TOPIC_ARN",
            &alert_topic_arn,
            "sns",
            "",
        );
        let (imported_model_kms_key_arn, vpc) = start_options(&get, &mut problems);
        let research_account = research_account(get("FERRY_RESEARCH_ACCOUNT_ID"), &mut problems);
        let notify_completed = switch(&get, "FERRY_NOTIFY_COMPLETED", &mut problems);
        let apply = switch(&get, "FERRY_CLEANUP", &mut problems);
        let Numbers {
            max_job_hours,
            min_age_days,
            idle_days,
            keep,
            quota,
        } = Numbers::read(&get, &mut problems);
        let after_import = AfterImport::read(&get, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        Ok(Self {
            ledger_table,
            alert_topic_arn,
            start: StartConfig {
                execution_role_arn,
                imported_model_kms_key_arn,
                vpc,
            },
            notify_completed,
            max_job_seconds: max_job_hours * 3600,
            cleanup: CleanupRules {
                apply,
                min_age_secs: min_age_days * DAY,
                idle_secs: idle_days * DAY,
                keep_newest: usize::try_from(keep).unwrap_or(usize::MAX),
                name_pattern: get("FERRY_CLEANUP_NAME_PATTERN"),
            },
            models_quota: quota.map(|q| usize::try_from(q).unwrap_or(usize::MAX)),
            region: get("AWS_REGION"),
            research_account,
            after_import,
        })
    }
}

/// `FERRY_RESEARCH_ACCOUNT_ID`: a 12-digit account id, when set.
fn research_account(account: Option<String>, problems: &mut Vec<String>) -> Option<String> {
    if let Some(account) = &account {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            problems.push(format!(
                "FERRY_RESEARCH_ACCOUNT_ID must be a 12-digit account id, not {:?}",
                crate::text::echo(account)
            ));
        }
    }
    account
}

/// An on/off switch, on when unset.
fn switch(get: &dyn Fn(&str) -> Option<String>, name: &str, problems: &mut Vec<String>) -> bool {
    match get(name).as_deref() {
        None | Some("on") => true,
        Some("off") => false,
        Some(other) => {
            problems.push(format!("{name} must be on or off, not {other:?}"));
            true
        }
    }
}

/// A whole number, `default` when unset.
fn number(
    get: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
    problems: &mut Vec<String>,
) -> u64 {
    match get(name) {
        None => default,
        Some(raw) => raw.parse().unwrap_or_else(|_| {
            problems.push(format!("{name} must be a whole number, not {raw:?}"));
            default
        }),
    }
}

/// The tracker's numeric settings, read and bounded.
struct Numbers {
    max_job_hours: u64,
    min_age_days: u64,
    idle_days: u64,
    keep: u64,
    quota: Option<u64>,
}

impl Numbers {
    fn read(get: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Self {
        let max_job_hours = number(get, "FERRY_MAX_JOB_HOURS", 6, problems);
        let min_age_days = number(get, "FERRY_CLEANUP_MIN_AGE_DAYS", 7, problems);
        let idle_days = number(get, "FERRY_CLEANUP_IDLE_DAYS", 14, problems);
        let keep = number(get, "FERRY_CLEANUP_KEEP", 1, problems);
        let quota = get("FERRY_IMPORTED_MODELS_QUOTA")
            .map(|_| number(get, "FERRY_IMPORTED_MODELS_QUOTA", 0, problems));
        // Bounded so that seconds never overflow (a wrapped minimum age would let
        // cleanup delete young models).
        for (name, value, max) in [
            ("FERRY_MAX_JOB_HOURS", max_job_hours, 24 * 365),
            ("FERRY_CLEANUP_MIN_AGE_DAYS", min_age_days, 3650),
            ("FERRY_CLEANUP_IDLE_DAYS", idle_days, 3650),
        ] {
            if value == 0 || value > max {
                problems.push(format!("{name} must be between 1 and {max}, not {value}"));
            }
        }
        if quota == Some(0) {
            problems.push("FERRY_IMPORTED_MODELS_QUOTA must be at least 1".into());
        }
        Self {
            max_job_hours,
            min_age_days,
            idle_days,
            keep,
            quota,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TrackerConfig;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_and_every_problem_at_once() {
        let config = TrackerConfig::from_env(env(&[
            ("FERRY_LEDGER_TABLE", "ferry-ledger"),
            (
                "FERRY_ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:777788889999:ferry-alerts",
            ),
            (
                "FERRY_EXECUTION_ROLE_ARN",
                "arn:aws:iam::777788889999:role/Exec",
            ),
        ]))
        .unwrap();
        assert_eq!(config.max_job_seconds, 6 * 3600);
        assert_eq!(config.cleanup.keep_newest, 1);
        assert_eq!(config.models_quota, None);
        assert!(config.cleanup.apply && config.notify_completed);

        let err = TrackerConfig::from_env(env(&[
            ("FERRY_ALERT_TOPIC_ARN", "not-an-arn"),
            (
                "FERRY_EXECUTION_ROLE_ARN",
                "arn:aws:iam::777788889999:role/Exec",
            ),
            ("FERRY_CLEANUP", "maybe"),
            ("FERRY_CLEANUP_IDLE_DAYS", "two"),
            ("FERRY_CLEANUP_MIN_AGE_DAYS", "99999999999999999"),
            ("FERRY_MAX_JOB_HOURS", "0"),
        ]))
        .unwrap_err()
        .to_string();
        for expected in [
            "FERRY_LEDGER_TABLE is not set",
            "FERRY_ALERT_TOPIC_ARN",
            "FERRY_CLEANUP must be on or off",
            "FERRY_CLEANUP_IDLE_DAYS must be a whole number",
            "FERRY_CLEANUP_MIN_AGE_DAYS must be between 1 and 3650",
            "FERRY_MAX_JOB_HOURS must be between 1",
        ] {
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }
}
