//! The importer's configuration, from environment variables, checked all at once at
//! cold start: one error lists every problem.

use std::fmt;

use super::ports::VpcConfig;
use crate::aws_names::s3_uri::S3Uri;
use crate::stages::{parse_stages, Gate, StageSpec};

/// How imports are started (shared with the tracker, which starts queued ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartConfig {
    /// The Custom Model Import execution role, in the hosting account.
    pub execution_role_arn: String,
    /// KMS key (hosting account) that encrypts imported models
    /// (`FERRY_IMPORTED_MODEL_KMS_KEY_ARN`); `None`: Bedrock's default encryption.
    pub imported_model_kms_key_arn: Option<String>,
    /// Subnets and security groups for the import job (`FERRY_VPC_SUBNET_IDS`,
    /// `FERRY_VPC_SECURITY_GROUP_IDS`); `None` when neither is set.
    pub vpc: Option<VpcConfig>,
}

/// The importer function's configuration, read by [`ImporterConfig::from_env`] from the
/// variables of [`VARIABLES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImporterConfig {
    /// Watched folders (`FERRY_WATCH_PREFIXES`): each model sub-folder under one is
    /// imported.
    pub watch: Vec<S3Uri>,
    /// A file name (`_READY`) whose upload marks a folder complete
    /// (`FERRY_READY_MARKER`); `None`: complete when config, tokenizer and every weight
    /// file are there.
    pub ready_marker: Option<String>,
    /// Judge the cross-account access chain before each import (`FERRY_ACCESS_CHECK`).
    pub access_check: bool,
    /// How long a warm container reuses the policies it read (`FERRY_POLICY_CACHE_SECONDS`).
    pub policy_cache_seconds: u64,
    /// The hosting targets in order (`FERRY_STAGES`); one, unnamed, without it.
    pub stages: Vec<StageConfig>,
}

/// One hosting target: an account and Region with its own ledger, queue, quota and
/// tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageConfig {
    /// The stage's name (`dev`); `None` for the one stage of a deployment without
    /// `FERRY_STAGES`, whose items and events carry no stage.
    pub name: Option<String>,
    /// When this stage imports a content.
    pub gate: Gate,
    /// The hosting account's automation role the importer assumes
    /// (`FERRY_HOSTING_ROLE_ARN`).
    pub hosting_role_arn: String,
    /// The `sts:ExternalId` that role's trust policy requires (`FERRY_EXTERNAL_ID`, 2 to
    /// 1224 characters).
    pub external_id: String,
    /// The ledger's DynamoDB table name in the hosting account (`FERRY_LEDGER_TABLE`).
    pub ledger_table: String,
    /// The SNS topic (hosting account) for Rejected and Failed imports
    /// (`FERRY_ALERT_TOPIC_ARN`).
    pub alert_topic_arn: String,
    /// The hosting account's region (`FERRY_HOSTING_REGION`); `None`: the function's own.
    pub hosting_region: Option<String>,
    /// The region imports run in (`FERRY_HOSTING_REGION`, else the function's
    /// `AWS_REGION`): some families are imported only in some regions.
    pub import_region: Option<String>,
    /// How jobs are started: the execution role, the KMS key, the VPC.
    pub start: StartConfig,
}

impl StageConfig {
    /// The stage's name for messages: `dev`, or `hosting` for an unnamed stage.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("hosting")
    }

    /// The hosting account (from the automation role's ARN).
    pub fn account(&self) -> &str {
        crate::aws_names::arn::account_of(&self.hosting_role_arn, "iam", "role/").unwrap_or("")
    }
}

impl ImporterConfig {
    /// The stage named `name`.
    pub fn stage(&self, name: &str) -> Option<&StageConfig> {
        self.stages.iter().find(|s| s.name.as_deref() == Some(name))
    }

    /// The stages that import on upload.
    pub fn upload_stages(&self) -> impl Iterator<Item = &StageConfig> {
        self.stages.iter().filter(|s| s.gate == Gate::Upload)
    }
}

/// Policies read for the access check are reused this long by a warm container: a
/// burst of uploads reads them once, and a fixed policy is seen a minute later.
pub(crate) const DEFAULT_POLICY_CACHE_SECONDS: u64 = 60;

/// Every variable, for the README's table and for error messages.
pub const VARIABLES: &[(&str, bool, &str)] = &[
    ("FERRY_WATCH_PREFIXES", true, "comma-separated s3://BUCKET/PREFIX/ folders whose model sub-folders are imported"),
    ("FERRY_HOSTING_ROLE_ARN", true, "the hosting account's automation role the importer assumes"),
    ("FERRY_EXTERNAL_ID", true, "the ExternalId that role's trust policy requires (one for every stage)"),
    ("FERRY_EXECUTION_ROLE_ARN", true, "the Custom Model Import execution role (hosting account) passed to Bedrock"),
    ("FERRY_LEDGER_TABLE", true, "the ledger's DynamoDB table name (hosting account)"),
    ("FERRY_ALERT_TOPIC_ARN", true, "the SNS topic (hosting account) for Rejected and Failed imports"),
    ("FERRY_STAGES", false, "stages in order, e.g. dev,staging=after:dev,prod=manual (gates: upload, after:STAGE, after:STAGE:released, manual); then each hosting variable holds one value, or one per stage, comma-separated (the VPC ones: per stage separated by ';')"),
    ("FERRY_READY_MARKER", false, "a file name (e.g. _READY) whose upload marks a folder complete; unset: complete when config, tokenizer and every weight file are there"),
    ("FERRY_IMPORTED_MODEL_KMS_KEY_ARN", false, "KMS key (hosting account) that encrypts imported models"),
    ("FERRY_VPC_SUBNET_IDS", false, "comma-separated subnet ids for the import job's VPC config (1-16; with the next)"),
    ("FERRY_VPC_SECURITY_GROUP_IDS", false, "comma-separated security group ids (1-5; with the previous)"),
    ("FERRY_HOSTING_REGION", false, "the hosting account's region, if not the function's own"),
    ("FERRY_ACCESS_CHECK", false, "on (default) or off: judge the cross-account access chain (bucket, role, key policies) before each import; a denial rejects the import with the statements to add"),
    ("FERRY_POLICY_CACHE_SECONDS", false, "how long a warm importer reuses the policies it read for the access check (default 60; 0 reads them every time)"),
];

/// Every problem found in the configuration, one sentence each, in a fixed order.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

/// Printed as the message: a Lambda init error and `main`'s `Err` show Debug.
impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration ({} problem(s)): {}",
            self.0.len(),
            self.0.join("; ")
        )
    }
}

impl std::error::Error for ConfigError {}

impl ImporterConfig {
    /// Reads the configuration through `get` (`std::env::var` in production).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let watch_raw = get("FERRY_WATCH_PREFIXES").unwrap_or_else(|| {
            problems.push("FERRY_WATCH_PREFIXES is not set".into());
            String::new()
        });
        let specs = match get("FERRY_STAGES") {
            None => vec![None],
            Some(raw) => match parse_stages(&raw) {
                Ok(specs) => specs.into_iter().map(Some).collect(),
                Err(mut found) => {
                    // The per-stage values cannot be judged without the stages.
                    problems.append(&mut found);
                    return Err(ConfigError(problems));
                }
            },
        };
        // Problems are listed in this order: names first, then their values.
        let values = StageValues::read(&get, specs.len(), &mut problems);
        let external_id = get("FERRY_EXTERNAL_ID");
        values.require(&external_id, &mut problems);
        let watch = watch_prefixes(&watch_raw, &mut problems);
        let stages = values.stages(specs, external_id, get("AWS_REGION"), &mut problems);
        check_stages_apart(&stages, &mut problems);
        let access_check = access_check(get("FERRY_ACCESS_CHECK").as_deref(), &mut problems);
        let policy_cache_seconds =
            policy_cache_seconds(get("FERRY_POLICY_CACHE_SECONDS"), &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        Ok(Self {
            access_check,
            policy_cache_seconds,
            watch,
            ready_marker: get("FERRY_READY_MARKER"),
            stages,
        })
    }
}

/// The hosting variables that hold one value per stage (or one for all).
struct PerStage<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    stages: usize,
}

impl PerStage<'_> {
    /// `name`'s value for each stage: one value repeated, or one per stage
    /// (`separator`-separated). A single stage's value is never split.
    fn values(
        &self,
        name: &str,
        separator: char,
        problems: &mut Vec<String>,
    ) -> Vec<Option<String>> {
        let Some(raw) = (self.get)(name) else {
            return vec![None; self.stages];
        };
        if self.stages == 1 {
            return vec![Some(raw)];
        }
        let values: Vec<Option<String>> = raw
            .split(separator)
            .map(|v| Some(v.trim().to_owned()).filter(|v| !v.is_empty()))
            .collect();
        match values.len() {
            1 => vec![values[0].clone(); self.stages],
            n if n == self.stages => values,
            n => {
                problems.push(format!(
                    "{name} has {n} values for {} stages: give one value, or one per stage in FERRY_STAGES's order, separated by {separator:?}",
                    self.stages
                ));
                // Reported once: not as "not set" too.
                vec![Some(String::new()); self.stages]
            }
        }
    }
}

/// Each stage's hosting target from the hosting variables.
/// The hosting variables' values, one per stage.
struct StageValues {
    hosting_roles: Vec<Option<String>>,
    execution_roles: Vec<Option<String>>,
    tables: Vec<Option<String>>,
    topics: Vec<Option<String>>,
    regions: Vec<Option<String>>,
    keys: Vec<Option<String>>,
    subnets: Vec<Option<String>>,
    groups: Vec<Option<String>>,
}

impl StageValues {
    fn read(
        get: &dyn Fn(&str) -> Option<String>,
        stages: usize,
        problems: &mut Vec<String>,
    ) -> Self {
        let per_stage = PerStage { get, stages };
        let mut values = |name: &str, separator: char| per_stage.values(name, separator, problems);
        Self {
            hosting_roles: values("FERRY_HOSTING_ROLE_ARN", ','),
            execution_roles: values("FERRY_EXECUTION_ROLE_ARN", ','),
            tables: values("FERRY_LEDGER_TABLE", ','),
            topics: values("FERRY_ALERT_TOPIC_ARN", ','),
            regions: values("FERRY_HOSTING_REGION", ','),
            keys: values("FERRY_IMPORTED_MODEL_KMS_KEY_ARN", ','),
            subnets: values("FERRY_VPC_SUBNET_IDS", ';'),
            groups: values("FERRY_VPC_SECURITY_GROUP_IDS", ';'),
        }
    }

    /// The required variables: set, and for every stage.
    fn require(&self, external_id: &Option<String>, problems: &mut Vec<String>) {
        for (name, list) in [
            ("FERRY_HOSTING_ROLE_ARN", &self.hosting_roles),
            ("FERRY_EXTERNAL_ID", &vec![external_id.clone()]),
            ("FERRY_EXECUTION_ROLE_ARN", &self.execution_roles),
            ("FERRY_LEDGER_TABLE", &self.tables),
            ("FERRY_ALERT_TOPIC_ARN", &self.topics),
        ] {
            if list.iter().all(Option::is_none) {
                problems.push(format!("{name} is not set"));
            } else if list.iter().any(Option::is_none) {
                problems.push(format!("{name} has an empty value for a stage"));
            }
        }
    }

    /// Every stage's target, its values checked in the order a single stage's always
    /// were (roles, topic, ExternalId, table, key and VPC).
    fn stages(
        &self,
        specs: Vec<Option<StageSpec>>,
        external_id: Option<String>,
        aws_region: Option<String>,
        problems: &mut Vec<String>,
    ) -> Vec<StageConfig> {
        let external_id = external_id.unwrap_or_default();
        let several = specs.len() > 1;
        let mut stages = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let mut stage = self.stage(i, spec, several, problems);
            if i == 0 && !external_id.is_empty() && !(2..=1224).contains(&external_id.len()) {
                problems.push("FERRY_EXTERNAL_ID must be 2 to 1224 characters".into());
            }
            self.check_more(&mut stage, i, several, problems);
            stage.external_id = external_id.clone();
            stage.import_region = stage.hosting_region.clone().or_else(|| aws_region.clone());
            stages.push(stage);
        }
        stages
    }

    /// Stage `i`'s roles and topic, checked (messages name the stage when there are
    /// several: then an account's resources must be in the stage's account).
    fn stage(
        &self,
        i: usize,
        spec: Option<StageSpec>,
        several: bool,
        problems: &mut Vec<String>,
    ) -> StageConfig {
        let take = |list: &[Option<String>]| list[i].clone().unwrap_or_default();
        let stage = StageConfig {
            gate: spec.as_ref().map_or(Gate::Upload, |s| s.gate.clone()),
            name: spec.map(|s| s.name),
            hosting_role_arn: take(&self.hosting_roles),
            external_id: String::new(),
            ledger_table: take(&self.tables),
            alert_topic_arn: take(&self.topics),
            hosting_region: self.regions[i].clone(),
            import_region: None,
            start: StartConfig {
                execution_role_arn: take(&self.execution_roles),
                imported_model_kms_key_arn: None,
                vpc: None,
            },
        };
        let at = |name: &str| stage.at(name);
        check_roles(
            problems,
            &at,
            &stage.hosting_role_arn,
            &stage.start.execution_role_arn,
        );
        let topic = at("FERRY_ALERT_TOPIC_ARN");
        let topic_account = check_arn(problems, &topic, &stage.alert_topic_arn, "sns", "");
        if several {
            stage.in_own_account(&topic, topic_account, problems);
        }
        stage
    }

    /// Stage `i`'s table, imported-model key and VPC, checked.
    fn check_more(
        &self,
        stage: &mut StageConfig,
        i: usize,
        several: bool,
        problems: &mut Vec<String>,
    ) {
        if !stage.ledger_table.is_empty() && !(3..=255).contains(&stage.ledger_table.len()) {
            problems.push(format!(
                "{} must be 3 to 255 characters",
                stage.at("FERRY_LEDGER_TABLE")
            ));
        }
        let (key, vpc) = start_options_of(
            &|name: &str| stage.at(name),
            self.keys[i].clone(),
            self.subnets[i].as_deref(),
            self.groups[i].as_deref(),
            problems,
        );
        if let (true, Some(key)) = (several, &key) {
            let account = crate::aws_names::arn::account_of(key, "kms", "key/").map(str::to_owned);
            stage.in_own_account(
                &stage.at("FERRY_IMPORTED_MODEL_KMS_KEY_ARN"),
                account,
                problems,
            );
        }
        stage.start.imported_model_kms_key_arn = key;
        stage.start.vpc = vpc;
    }
}

impl StageConfig {
    /// A variable's name in messages: with the stage when the deployment names stages.
    fn at(&self, name: &str) -> String {
        match &self.name {
            Some(stage) => format!("{name} (stage {stage})"),
            None => name.to_owned(),
        }
    }

    /// A resource of `account` given for this stage must be in the stage's account: a
    /// value given once for several stages is right for one of them at most.
    fn in_own_account(&self, variable: &str, account: Option<String>, problems: &mut Vec<String>) {
        let own = self.account();
        if let Some(account) = account.filter(|a| !own.is_empty() && a != own) {
            problems.push(format!(
                "{variable} is in account {account}, not the stage's account {own}: give one value per stage"
            ));
        }
    }
}

/// Two stages in one account and Region would share its one import slot, its quota and
/// its imported models (which cleanup deletes): each stage needs its own.
fn check_stages_apart(stages: &[StageConfig], problems: &mut Vec<String>) {
    for (i, a) in stages.iter().enumerate() {
        for b in &stages[..i] {
            if !a.account().is_empty()
                && a.account() == b.account()
                && a.import_region == b.import_region
            {
                problems.push(format!(
                    "stages {} and {} are both in account {} and the same Region: each stage needs its own account or Region (its own import slot, quota and models)",
                    b.label(),
                    a.label(),
                    a.account()
                ));
            }
        }
    }
}

/// `FERRY_WATCH_PREFIXES`: comma-separated `s3://bucket/prefix/` URIs.
fn watch_prefixes(raw: &str, problems: &mut Vec<String>) -> Vec<S3Uri> {
    let mut watch = Vec::new();
    for raw in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match S3Uri::parse(raw) {
            Ok(uri) => watch.push(uri),
            Err(e) => problems.push(format!("FERRY_WATCH_PREFIXES: {e}")),
        }
    }
    watch
}

/// The hosting and execution roles: role ARNs of one account, since Bedrock only
/// accepts an execution role of the account that runs the import.
fn check_roles(
    problems: &mut Vec<String>,
    at: &dyn Fn(&str) -> String,
    hosting_role_arn: &str,
    execution_role_arn: &str,
) {
    let hosting_account = check_arn(
        problems,
        &at("FERRY_HOSTING_ROLE_ARN"),
        hosting_role_arn,
        "iam",
        "role/",
    );
    let execution_account = check_arn(
        problems,
        &at("FERRY_EXECUTION_ROLE_ARN"),
        execution_role_arn,
        "iam",
        "role/",
    );
    if let (Some(h), Some(e)) = (&hosting_account, &execution_account) {
        if h != e {
            problems.push(format!(
                "{} is in account {e} but the hosting role in {h}: Bedrock only accepts an \
                 execution role of the account that runs the import",
                at("FERRY_EXECUTION_ROLE_ARN")
            ));
        }
    }
}

/// `FERRY_ACCESS_CHECK`: on (the default) or off.
fn access_check(raw: Option<&str>, problems: &mut Vec<String>) -> bool {
    match raw {
        None | Some("on") => true,
        Some("off") => false,
        Some(other) => {
            problems.push(format!(
                "FERRY_ACCESS_CHECK must be on or off, not {other:?}"
            ));
            true
        }
    }
}

/// `FERRY_POLICY_CACHE_SECONDS`: whole seconds, [`DEFAULT_POLICY_CACHE_SECONDS`] unset.
fn policy_cache_seconds(raw: Option<String>, problems: &mut Vec<String>) -> u64 {
    match raw {
        None => DEFAULT_POLICY_CACHE_SECONDS,
        Some(raw) => raw.parse().unwrap_or_else(|_| {
            problems.push(format!(
                "FERRY_POLICY_CACHE_SECONDS must be a whole number of seconds, not {raw:?}"
            ));
            DEFAULT_POLICY_CACHE_SECONDS
        }),
    }
}

/// The optional parts of [`StartConfig`] (imported-model key, VPC), shared by the
/// importer's and the tracker's configuration.
pub(crate) fn start_options(
    get: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> (Option<String>, Option<VpcConfig>) {
    start_options_of(
        &|name: &str| name.to_owned(),
        get("FERRY_IMPORTED_MODEL_KMS_KEY_ARN"),
        get("FERRY_VPC_SUBNET_IDS").as_deref(),
        get("FERRY_VPC_SECURITY_GROUP_IDS").as_deref(),
        problems,
    )
}

/// One stage's imported-model key and VPC from its values; `at` names a variable in
/// messages (with the stage, when there are several).
fn start_options_of(
    at: &dyn Fn(&str) -> String,
    imported_model_kms_key_arn: Option<String>,
    subnets: Option<&str>,
    groups: Option<&str>,
    problems: &mut Vec<String>,
) -> (Option<String>, Option<VpcConfig>) {
    if let Some(key) = &imported_model_kms_key_arn {
        check_arn(
            problems,
            &at("FERRY_IMPORTED_MODEL_KMS_KEY_ARN"),
            key,
            "kms",
            "key/",
        );
    }
    let list = |raw: Option<&str>| -> Vec<String> {
        raw.map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
    };
    let (subnets, groups) = (list(subnets), list(groups));
    let vpc = match (subnets.len(), groups.len()) {
        (0, 0) => None,
        (1..=16, 1..=5) => Some(VpcConfig {
            subnet_ids: subnets,
            security_group_ids: groups,
        }),
        (s, g) => {
            problems.push(format!(
                "{} ({s}) and {} ({g}) must both be set: 1-16 subnets, 1-5 security groups",
                at("FERRY_VPC_SUBNET_IDS"),
                at("FERRY_VPC_SECURITY_GROUP_IDS")
            ));
            None
        }
    };
    (imported_model_kms_key_arn, vpc)
}

/// Checks `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` and returns the account.
pub(crate) fn check_arn(
    problems: &mut Vec<String>,
    name: &str,
    arn: &str,
    service: &str,
    resource_prefix: &str,
) -> Option<String> {
    if arn.is_empty() {
        return None;
    }
    if let Some(account) = crate::aws_names::arn::account_of(arn, service, resource_prefix) {
        Some(account.to_owned())
    } else {
        problems.push(format!(
            "{name} is {arn:?}, not an ARN of the form arn:aws:{service}:{}:ACCOUNT:{resource_prefix}NAME",
            if service == "iam" { "" } else { "REGION" }
        ));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    pub(crate) const VALID: &[(&str, &str)] = &[
        (
            "FERRY_WATCH_PREFIXES",
            "s3://research/fine-tunes/, s3://research/base/",
        ),
        (
            "FERRY_HOSTING_ROLE_ARN",
            "arn:aws:iam::777788889999:role/FerryAutomation",
        ),
        ("FERRY_EXTERNAL_ID", "ferry-external-id"),
        (
            "FERRY_EXECUTION_ROLE_ARN",
            "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole",
        ),
        ("FERRY_LEDGER_TABLE", "ferry-ledger"),
        (
            "FERRY_ALERT_TOPIC_ARN",
            "arn:aws:sns:us-east-1:777788889999:ferry-alerts",
        ),
    ];

    #[test]
    fn a_valid_environment() {
        let config = ImporterConfig::from_env(env(VALID)).unwrap();
        assert_eq!(config.watch.len(), 2);
        assert_eq!(config.watch[1].prefix, "base/");
        assert_eq!(config.ready_marker, None);
        assert_eq!(config.stages[0].start.vpc, None);
        assert_eq!(config.stages[0].name, None);
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let err = ImporterConfig::from_env(env(&[
            ("FERRY_WATCH_PREFIXES", "research/x"),
            ("FERRY_HOSTING_ROLE_ARN", "arn:aws:iam::777788889999:role/A"),
            (
                "FERRY_EXECUTION_ROLE_ARN",
                "arn:aws:iam::111122223333:role/B",
            ),
            ("FERRY_ALERT_TOPIC_ARN", "ferry-alerts"),
            ("FERRY_VPC_SUBNET_IDS", "subnet-1"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        for expected in [
            "FERRY_EXTERNAL_ID is not set",
            "FERRY_LEDGER_TABLE is not set",
            "FERRY_WATCH_PREFIXES: \"research/x\" is not an s3:// URI",
            "account 111122223333",
            "FERRY_ALERT_TOPIC_ARN is \"ferry-alerts\"",
            "FERRY_VPC_SUBNET_IDS (1) and FERRY_VPC_SECURITY_GROUP_IDS (0)",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in {text}");
        }
        assert_eq!(err.0.len(), 6, "{text}");
        // Names first, then their values, in the order they have always come.
        let order: Vec<usize> = err
            .0
            .iter()
            .map(|p| {
                [
                    "EXTERNAL_ID is not",
                    "LEDGER_TABLE is not",
                    "WATCH",
                    "account 1",
                    "ALERT",
                    "VPC",
                ]
                .iter()
                .position(|k| p.contains(k))
                .unwrap_or(99)
            })
            .collect();
        assert_eq!(order, [0, 1, 2, 3, 4, 5], "{text}");
    }

    #[test]
    fn stages_are_checked_before_their_values_and_each_value_is_in_its_stage_account() {
        let mut vars = VALID.to_vec();
        vars.push(("FERRY_STAGES", "dev,Prod"));
        let err = ImporterConfig::from_env(env(&vars)).unwrap_err();
        assert_eq!(err.0.len(), 1, "no false 'not set': {err}");
        let mut vars = VALID.to_vec();
        vars.retain(|(k, _)| {
            !k.starts_with("FERRY_HOSTING_ROLE") && !k.starts_with("FERRY_EXECUTION")
        });
        vars.extend([
            ("FERRY_STAGES", "dev,prod"),
            (
                "FERRY_HOSTING_ROLE_ARN",
                "arn:aws:iam::777788889999:role/A, arn:aws:iam::222233334444:role/A",
            ),
            (
                "FERRY_EXECUTION_ROLE_ARN",
                "arn:aws:iam::777788889999:role/E,arn:aws:iam::222233334444:role/E",
            ),
            (
                "FERRY_IMPORTED_MODEL_KMS_KEY_ARN",
                ",arn:aws:kms:us-east-1:777788889999:key/k",
            ),
        ]);
        let text = ImporterConfig::from_env(env(&vars))
            .unwrap_err()
            .to_string();
        assert!(text.contains("FERRY_ALERT_TOPIC_ARN (stage prod) is in account 777788889999, not the stage's account 222233334444"), "{text}");
        assert!(
            text.contains(
                "FERRY_IMPORTED_MODEL_KMS_KEY_ARN (stage prod) is in account 777788889999"
            ),
            "{text}"
        );
        assert!(!text.contains("(stage dev) is in account"), "{text}");
    }
}
