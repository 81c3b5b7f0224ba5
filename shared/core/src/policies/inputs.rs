//! What a deployment's policies are made of: a research account, one hosting account per
//! stage, one bucket prefix, one region, optional keys, and the names the stacks agree on.

use crate::aws_names::region::{is_region_name, partition_of};

/// Names of the resources Ferry's two stacks create. They are fixed by parameter rather
/// than generated, because each account's policies name the other account's resources
/// before (or without) being able to look them up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The hosting role Bedrock assumes to read the weights (IAM role name, 1-64 chars).
    pub execution_role: String,
    /// The hosting role the importer assumes (with the ExternalId) to start imports.
    pub automation_role: String,
    /// The importer function's role, in the research account.
    pub importer_role: String,
    /// The tracker function's role, in the hosting account.
    pub tracker_role: String,
    /// The ledger's DynamoDB table, in the hosting account.
    pub ledger_table: String,
    /// The SNS topic alerts go to, in the hosting account.
    pub alert_topic: String,
    /// Alias of the key that encrypts the alert topic (without `alias/`).
    pub alert_key_alias: String,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            execution_role: "FerryBedrockImportExecution".into(),
            automation_role: "FerryAutomation".into(),
            importer_role: "FerryImporter".into(),
            tracker_role: "FerryTracker".into(),
            ledger_table: "ferry-ledger".into(),
            alert_topic: "ferry-alerts".into(),
            alert_key_alias: "ferry-alerts".into(),
        }
    }
}

/// One stage of a deployment (dev, staging, prod): a hosting account that imports in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Lowercase letters, digits and hyphens, starting with a letter, at most 24.
    pub name: String,
    /// The 12-digit hosting account of the stage.
    pub account: String,
    /// The key Bedrock encrypts the stage's imported models with, in its account.
    pub imported_model_kms_key: Option<String>,
}

impl Stage {
    /// A stage without an imported-model key.
    pub fn new(name: &str, account: &str) -> Self {
        Self {
            name: name.into(),
            account: account.into(),
            imported_model_kms_key: None,
        }
    }
}

pub use crate::stages::MAX_STAGES;

/// One deployment: the research bucket prefix Ferry watches, the hosting account (or the
/// hosting accounts of its stages, in order) that imports from it, and the region of the
/// imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The 12-digit account that holds the bucket with the weights.
    pub research_account: String,
    /// The 12-digit account where Bedrock imports the models (the first stage's).
    pub hosting_account: String,
    /// The region of the imports (`us-east-1`); it gives the partition.
    pub region: String,
    /// The research bucket's name.
    pub bucket: String,
    /// Empty (the whole bucket) or ending in `/`.
    pub prefix: String,
    /// The key that encrypts the weights (SSE-KMS), in the research account.
    pub research_kms_key: Option<String>,
    /// The key Bedrock encrypts the imported model with, in the hosting account (the first
    /// stage's).
    pub imported_model_kms_key: Option<String>,
    /// The ExternalId the importer presents to the automation role.
    pub external_id: Option<String>,
    /// The names of the roles, table and topic the stacks create.
    pub names: Names,
    /// Where the release pointers live: SSM parameters `{prefix}/{model}/live`.
    pub release_parameter_prefix: String,
    /// The first stage's name when the stages are named; None for the one-stage form
    /// (`--hosting-account`), whose documents carry no stage.
    pub first_stage: Option<String>,
    /// The stages after the first, in promotion order.
    pub later_stages: Vec<Stage>,
}

/// The release pointers' prefix when none is given.
pub const DEFAULT_RELEASE_PARAMETER_PREFIX: &str = "/ferry";

/// An input that cannot make a valid policy; `field` is the flag that carried it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    /// The command-line flag (`--research-account`).
    pub field: &'static str,
    /// What is wrong with the value, in a sentence.
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> InputError {
    InputError {
        field,
        message: message.into(),
    }
}

impl Deployment {
    /// A deployment with the default names and no keys; call [`Deployment::validated`].
    pub fn new(
        research_account: &str,
        hosting_account: &str,
        region: &str,
        bucket: &str,
        prefix: &str,
    ) -> Self {
        Self {
            research_account: research_account.into(),
            hosting_account: hosting_account.into(),
            region: region.into(),
            bucket: bucket.into(),
            prefix: prefix.into(),
            research_kms_key: None,
            imported_model_kms_key: None,
            external_id: None,
            names: Names::default(),
            release_parameter_prefix: DEFAULT_RELEASE_PARAMETER_PREFIX.into(),
            first_stage: None,
            later_stages: Vec::new(),
        }
    }

    /// The deployment serving `stages` in order: the first becomes `hosting_account` (and
    /// its key `imported_model_kms_key`), the others `later_stages`. No stages: unchanged.
    pub fn with_stages(mut self, stages: Vec<Stage>) -> Self {
        let mut stages = stages.into_iter();
        if let Some(first) = stages.next() {
            self.hosting_account = first.account;
            self.imported_model_kms_key = first.imported_model_kms_key;
            self.first_stage = Some(first.name);
            self.later_stages = stages.collect();
        }
        self
    }

    /// Every stage in order, the first included; the one-stage form's has an empty name.
    pub fn stages(&self) -> Vec<Stage> {
        let first = Stage {
            name: self.first_stage.clone().unwrap_or_default(),
            account: self.hosting_account.clone(),
            imported_model_kms_key: self.imported_model_kms_key.clone(),
        };
        std::iter::once(first)
            .chain(self.later_stages.iter().cloned())
            .collect()
    }

    /// One single-stage deployment per stage, in order: the view the per-account
    /// documents (execution, automation and tracker roles, the imported-model key) are
    /// written for.
    pub fn per_stage(&self) -> Vec<Deployment> {
        self.stages()
            .into_iter()
            .map(|stage| Deployment {
                hosting_account: stage.account,
                imported_model_kms_key: stage.imported_model_kms_key,
                first_stage: self.first_stage.as_ref().map(|_| stage.name),
                later_stages: Vec::new(),
                ..self.clone()
            })
            .collect()
    }

    /// Promotion between stages needs two of them.
    pub fn promotes(&self) -> bool {
        !self.later_stages.is_empty()
    }

    /// Checks every input and normalizes the prefix (a trailing `/`, no leading one).
    pub fn validated(mut self) -> Result<Self, InputError> {
        check_account("--research-account", &self.research_account)?;
        if !is_region_name(&self.region) {
            return Err(bad(
                "--region",
                format!("{:?} is not a region name like us-east-1", self.region),
            ));
        }
        (self.bucket, self.prefix) =
            bucket_folder(&self.bucket, &self.prefix, ("--bucket", "--prefix"))?;
        let partition = partition_of(&self.region);
        if let Some(key) = &self.research_kms_key {
            check_key("--research-kms-key", key, partition, &self.research_account)?;
        }
        self.check_stages()?;
        if let Some(id) = &self.external_id {
            // STS: 2-1224 characters of [\w+=,.@:/-].
            let valid = (2..=1224).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
            if !valid {
                return Err(bad(
                    "--external-id",
                    "must be 2 to 1224 characters of letters, digits and _+=,.@:/-",
                ));
            }
        }
        self.release_parameter_prefix = release_parameter_prefix(&self.release_parameter_prefix)
            .map_err(|why| bad("--release-parameter-prefix", why))?;
        let n = &self.names;
        for (field, name) in [
            ("--execution-role-name", &n.execution_role),
            ("--automation-role-name", &n.automation_role),
            ("--importer-role-name", &n.importer_role),
            ("--tracker-role-name", &n.tracker_role),
        ] {
            let valid = (1..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
            if !valid {
                return Err(bad(
                    field,
                    format!(
                        "{name:?} is not an IAM role name (1-64 of letters, digits and _+=,.@-)"
                    ),
                ));
            }
        }
        for (field, name) in [
            ("--ledger-table", &n.ledger_table),
            ("--alert-topic", &n.alert_topic),
            ("--alert-key-alias", &n.alert_key_alias),
        ] {
            let valid = (3..=200).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
            if !valid {
                return Err(bad(
                    field,
                    format!("{name:?}: use 3-200 letters, digits, '_' or '-'"),
                ));
            }
        }
        Ok(self)
    }

    /// The hosting accounts: one (`--hosting-account`), or the named stages' (`--stage`),
    /// each with its own account and, if any, a key of that account.
    fn check_stages(&self) -> Result<(), InputError> {
        let partition = self.partition();
        if self.first_stage.is_none() {
            check_account("--hosting-account", &self.hosting_account)?;
            if !self.later_stages.is_empty() {
                return Err(bad(
                    "--stage",
                    "name every stage, the first included (--stage NAME=ACCOUNT for each)",
                ));
            }
        }
        let stages = self.stages();
        if stages.len() > MAX_STAGES {
            return Err(bad(
                "--stage",
                format!(
                    "{} stages given; a deployment serves {MAX_STAGES} at most",
                    stages.len()
                ),
            ));
        }
        for (i, stage) in stages.iter().enumerate() {
            if self.first_stage.is_some() {
                check_stage(stage, &stages[..i])?;
            }
            if let Some(key) = &stage.imported_model_kms_key {
                check_key("--imported-model-kms-key", key, partition, &stage.account)?;
            }
        }
        Ok(())
    }

    /// `aws`, `aws-us-gov` or `aws-cn`, from the region.
    pub fn partition(&self) -> &'static str {
        partition_of(&self.region)
    }

    fn iam_arn(&self, account: &str, resource: &str) -> String {
        format!("arn:{}:iam::{account}:{resource}", self.partition())
    }

    /// `arn:P:iam::HOSTING:role/NAME` of the execution role.
    pub fn execution_role_arn(&self) -> String {
        self.iam_arn(
            &self.hosting_account,
            &format!("role/{}", self.names.execution_role),
        )
    }

    /// `arn:P:iam::HOSTING:role/NAME` of the automation role.
    pub fn automation_role_arn(&self) -> String {
        self.iam_arn(
            &self.hosting_account,
            &format!("role/{}", self.names.automation_role),
        )
    }

    /// `arn:P:iam::HOSTING:role/NAME` of the tracker's role.
    pub fn tracker_role_arn(&self) -> String {
        self.iam_arn(
            &self.hosting_account,
            &format!("role/{}", self.names.tracker_role),
        )
    }

    /// `arn:P:iam::RESEARCH:role/NAME` of the importer's role.
    pub fn importer_role_arn(&self) -> String {
        self.iam_arn(
            &self.research_account,
            &format!("role/{}", self.names.importer_role),
        )
    }

    /// `arn:P:iam::ACCOUNT:root`: the account as a principal.
    pub(crate) fn account_root(&self, account: &str) -> String {
        self.iam_arn(account, "root")
    }

    /// `arn:P:s3:::BUCKET`: the bucket itself (for `s3:ListBucket`).
    pub fn bucket_arn(&self) -> String {
        format!("arn:{}:s3:::{}", self.partition(), self.bucket)
    }

    /// Every object under the prefix.
    pub(crate) fn objects_arn(&self) -> String {
        format!("{}/{}*", self.bucket_arn(), self.prefix)
    }

    /// `s3://BUCKET/PREFIX`: the watched folder as a URI.
    pub fn source_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// The ledger's DynamoDB table.
    pub(crate) fn ledger_table_arn(&self) -> String {
        self.hosting_arn("dynamodb", &format!("table/{}", self.names.ledger_table))
    }

    /// `arn:P:sns:REGION:HOSTING:TOPIC` of the alert topic.
    pub fn alert_topic_arn(&self) -> String {
        self.hosting_arn("sns", &self.names.alert_topic)
    }

    /// The release pointers' parameters (`parameter/ferry/*`).
    pub(crate) fn release_parameters_arn(&self) -> String {
        let prefix = &self.release_parameter_prefix;
        self.hosting_arn("ssm", &format!("parameter{prefix}/*"))
    }

    /// The hosting account's default event bus in the region.
    pub(crate) fn default_event_bus_arn(&self) -> String {
        self.hosting_arn("events", "event-bus/default")
    }

    /// The research account's default event bus in the region, where the stages forward
    /// their promotion events.
    pub fn research_event_bus_arn(&self) -> String {
        format!(
            "arn:{}:events:{}:{}:event-bus/default",
            self.partition(),
            self.region,
            self.research_account
        )
    }

    /// `arn:P:SERVICE:REGION:HOSTING:RESOURCE`: a resource of the hosting account in the
    /// region.
    fn hosting_arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition(),
            self.region,
            self.hosting_account
        )
    }

    /// Import jobs of the hosting account in the region (the trust policy's SourceArn).
    pub(crate) fn import_jobs_arn(&self) -> String {
        self.bedrock_arn("model-import-job/*")
    }

    /// A Bedrock resource of the hosting account in the region.
    pub(crate) fn bedrock_arn(&self, resource: &str) -> String {
        self.hosting_arn("bedrock", resource)
    }
}

/// SSM allows 15 levels in a name; the model and `live` take two.
const MAX_PREFIX_LEVELS: usize = 13;
/// Well inside SSM's 1011 characters for a name with its ARN prefix.
const MAX_PREFIX_CHARS: usize = 500;

/// The release pointers' prefix checked against SSM's rules for hierarchical names
/// (a leading `/`, letters, digits, `_.-/`, not `aws` or `ssm` first, 13 levels at
/// most) and returned without a trailing `/`; or why SSM would refuse names under it.
pub fn release_parameter_prefix(prefix: &str) -> Result<String, String> {
    let Some(path) = prefix.strip_prefix('/') else {
        return Err(format!(
            "{prefix:?} must start with / (a parameter hierarchy)"
        ));
    };
    let path = path.trim_end_matches('/');
    let why = if prefix.chars().count() > MAX_PREFIX_CHARS {
        "is too long (500 characters at most)"
    } else if !path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
    {
        "may hold only letters, digits, _ . - and /"
    } else if path.is_empty() || path.split('/').any(str::is_empty) {
        "needs at least one level and no empty level (//)"
    } else if path.split('/').count() > MAX_PREFIX_LEVELS {
        "is too deep (13 levels at most: SSM allows 15 with the model and live)"
    } else if ["aws", "ssm"].iter().any(|r| {
        path.get(..3)
            .is_some_and(|start| start.eq_ignore_ascii_case(r))
    }) {
        "must not begin with aws or ssm (reserved by SSM)"
    } else {
        return Ok(format!("/{path}"));
    };
    Err(format!("{:?} {why}", crate::text::truncate(prefix, 100)))
}

/// A named stage: its name, its account, and neither used by an `earlier` stage.
fn check_stage(stage: &Stage, earlier: &[Stage]) -> Result<(), InputError> {
    let name = &stage.name;
    if !crate::stages::is_stage_name(name) {
        return Err(bad(
            "--stage",
            format!(
                "{:?} is not a stage name: use 1-24 lowercase letters, digits and hyphens, starting with a letter (dev, staging, prod-eu)",
                crate::text::truncate(name, 40)
            ),
        ));
    }
    if !(stage.account.len() == 12 && stage.account.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad(
            "--stage",
            format!(
                "{name}: {:?} is not a 12-digit AWS account id",
                stage.account
            ),
        ));
    }
    if earlier.iter().any(|s| s.name == *name) {
        return Err(bad(
            "--stage",
            format!("{name} is named twice; give each stage once"),
        ));
    }
    if let Some(other) = earlier.iter().find(|s| s.account == stage.account) {
        return Err(bad(
            "--stage",
            format!(
                "{} and {name} both use account {}; each stage needs its own hosting account",
                other.name, stage.account
            ),
        ));
    }
    Ok(())
}

/// Checks that `account` is a 12-digit AWS account ID; the error names `field`.
pub fn check_account(field: &'static str, account: &str) -> Result<(), InputError> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(bad(
            field,
            format!("{account:?} is not a 12-digit AWS account id"),
        ))
    }
}

/// A bucket and a folder in it, checked as the policies need them; the folder comes
/// back normalized (no leading `/`, a trailing one unless empty). `fields` names the
/// two flags in errors.
pub fn bucket_folder(
    bucket: &str,
    prefix: &str,
    fields: (&'static str, &'static str),
) -> Result<(String, String), InputError> {
    check_bucket(fields.0, bucket)?;
    Ok((bucket.to_owned(), normalize_prefix(fields.1, prefix)?))
}

fn check_bucket(field: &'static str, bucket: &str) -> Result<(), InputError> {
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && bucket
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(bad(
            field,
            format!(
                "{bucket:?} is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-'; give the name, not s3://)"
            ),
        ))
    }
}

fn normalize_prefix(field: &'static str, given: &str) -> Result<String, InputError> {
    let prefix = given.trim_start_matches('/');
    if prefix.is_empty() && !given.is_empty() {
        // Only "" grants the whole bucket: a stray "/" must not do it silently.
        return Err(bad(
            field,
            format!("{given:?} names no folder and would grant the whole bucket; give the folder, or \"\" to grant the whole bucket on purpose"),
        ));
    }
    if let Some(c) = prefix.chars().find(|c| matches!(c, '*' | '?' | '$')) {
        // In an ARN or a StringLike condition these would widen the grant.
        return Err(bad(
            field,
            format!("{c:?} would act as a wildcard or variable in the policies; give the literal folder"),
        ));
    }
    if prefix.is_empty() || prefix.ends_with('/') {
        Ok(prefix.to_owned())
    } else {
        Ok(format!("{prefix}/"))
    }
}

fn check_key(
    field: &'static str,
    arn: &str,
    partition: &str,
    account: &str,
) -> Result<(), InputError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let well_formed = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "kms"
        && is_region_name(parts[3])
        && parts[5]
            .strip_prefix("key/")
            .is_some_and(|id| !id.is_empty());
    if !well_formed {
        return Err(bad(
            field,
            format!("{arn:?} is not a KMS key ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID; an alias cannot be named in a key grant)"),
        ));
    }
    if parts[1] != partition {
        return Err(bad(
            field,
            format!(
                "{arn} is in partition {}, the region's partition is {partition}",
                parts[1]
            ),
        ));
    }
    if parts[4] != account {
        return Err(bad(
            field,
            format!("{arn} belongs to account {}, expected {account}", parts[4]),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Deployment {
        Deployment::new(
            "111122223333",
            "777788889999",
            "us-east-1",
            "model-artifacts-111122223333",
            "models",
        )
    }

    #[test]
    fn prefix_gets_a_trailing_slash_and_loses_a_leading_one() {
        assert_eq!(base().validated().map(|d| d.prefix), Ok("models/".into()));
        let mut d = base();
        d.prefix = "/a/b/".into();
        assert_eq!(d.validated().map(|d| d.prefix), Ok("a/b/".into()));
        d = base();
        d.prefix = "//".into();
        let err = d.validated().expect_err("a prefix of slashes only");
        assert!(err.to_string().contains("whole bucket"), "{err}");
        d = base();
        d.prefix = String::new();
        assert_eq!(
            d.validated().map(|d| d.objects_arn()),
            Ok("arn:aws:s3:::model-artifacts-111122223333/*".into())
        );
    }

    #[test]
    fn bad_inputs_name_their_flag() {
        type Mutation = Box<dyn Fn(&mut Deployment)>;
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "--research-account",
                Box::new(|d| d.research_account = "1111".into()),
            ),
            (
                "--hosting-account",
                Box::new(|d| d.hosting_account = "77778888999x".into()),
            ),
            ("--region", Box::new(|d| d.region = "virginia".into())),
            ("--bucket", Box::new(|d| d.bucket = "s3://bucket".into())),
            ("--bucket", Box::new(|d| d.bucket = "Bucket".into())),
            ("--prefix", Box::new(|d| d.prefix = "models/*".into())),
            ("--prefix", Box::new(|d| d.prefix = "/".into())),
            ("--prefix", Box::new(|d| d.prefix = "///".into())),
            (
                "--prefix",
                Box::new(|d| d.prefix = "${aws:username}/".into()),
            ),
            (
                "--research-kms-key",
                Box::new(|d| d.research_kms_key = Some("alias/weights".into())),
            ),
            (
                "--research-kms-key",
                Box::new(|d| {
                    d.research_kms_key = Some("arn:aws:kms:us-east-1:777788889999:key/k".into())
                }),
            ),
            (
                "--imported-model-kms-key",
                Box::new(|d| {
                    d.imported_model_kms_key =
                        Some("arn:aws-us-gov:kms:us-east-1:777788889999:key/k".into())
                }),
            ),
            (
                "--external-id",
                Box::new(|d| d.external_id = Some("x".into())),
            ),
            (
                "--execution-role-name",
                Box::new(|d| d.names.execution_role = "a/b".into()),
            ),
            (
                "--ledger-table",
                Box::new(|d| d.names.ledger_table = "t".into()),
            ),
        ];
        for (field, mutate) in cases {
            let mut d = base();
            mutate(&mut d);
            let err = d.validated().expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }

    fn three_stages() -> Deployment {
        base().with_stages(vec![
            Stage::new("dev", "444455556666"),
            Stage::new("staging", "777788889999"),
            Stage::new("prod", "222233334444"),
        ])
    }

    #[test]
    fn bad_stages_name_their_flag_and_what_is_wrong() {
        type Mutation = Box<dyn Fn(&mut Deployment)>;
        let key = |account: &str| Some(format!("arn:aws:kms:us-east-1:{account}:key/k"));
        let cases: Vec<(&str, &str, Mutation)> = vec![
            (
                "--stage",
                "not a stage name",
                Box::new(|d| d.first_stage = Some("Dev".into())),
            ),
            (
                "--stage",
                "not a stage name",
                Box::new(|d| d.later_stages[0].name = "2nd".into()),
            ),
            (
                "--stage",
                "not a stage name",
                Box::new(|d| d.later_stages[0].name = String::new()),
            ),
            (
                "--stage",
                "not a stage name",
                Box::new(|d| d.later_stages[0].name = "a".repeat(25)),
            ),
            (
                "--stage",
                "not a stage name",
                Box::new(|d| d.later_stages[1].name = "prod_eu".into()),
            ),
            (
                "--stage",
                "named twice",
                Box::new(|d| d.later_stages[1].name = "dev".into()),
            ),
            (
                "--stage",
                "each stage needs its own",
                Box::new(|d| d.later_stages[1].account = "444455556666".into()),
            ),
            (
                "--stage",
                "12-digit",
                Box::new(|d| d.later_stages[0].account = "7777".into()),
            ),
            (
                "--stage",
                "12-digit",
                Box::new(|d| d.hosting_account = "x".into()),
            ),
            (
                "--stage",
                "5 at most",
                Box::new(|d| {
                    for (name, account) in [
                        ("qa", "100000000001"),
                        ("perf", "100000000002"),
                        ("eu", "100000000003"),
                    ] {
                        d.later_stages.push(Stage::new(name, account));
                    }
                }),
            ),
            (
                "--stage",
                "name every stage",
                Box::new(|d| d.first_stage = None),
            ),
            (
                "--imported-model-kms-key",
                "expected 777788889999",
                Box::new(move |d| {
                    d.later_stages[0].imported_model_kms_key = key("222233334444");
                }),
            ),
        ];
        for (field, says, mutate) in cases {
            let mut d = three_stages();
            mutate(&mut d);
            let err = d.validated().expect_err(says);
            assert_eq!(err.field, field, "{err}");
            assert!(err.message.contains(says), "{err}");
        }
        let longest = "a".repeat(24);
        let mut d = three_stages();
        d.later_stages[0].name = longest.clone();
        d.later_stages[0].imported_model_kms_key = key("777788889999");
        assert!(
            d.validated().is_ok(),
            "{longest} and a key of the stage's account"
        );
    }

    #[test]
    fn each_stage_is_a_single_stage_view_in_order() {
        let mut d = three_stages();
        d.later_stages[1].imported_model_kms_key =
            Some("arn:aws:kms:us-east-1:222233334444:key/k".into());
        let d = d.validated().expect("valid");
        assert!(d.promotes());
        let views = d.per_stage();
        let seen: Vec<(Option<&str>, &str, bool)> = views
            .iter()
            .map(|v| {
                assert!(!v.promotes());
                (
                    v.first_stage.as_deref(),
                    v.hosting_account.as_str(),
                    v.imported_model_kms_key.is_some(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (Some("dev"), "444455556666", false),
                (Some("staging"), "777788889999", false),
                (Some("prod"), "222233334444", true)
            ]
        );
        let one = base().validated().expect("valid");
        assert!(!one.promotes());
        assert_eq!(
            one.per_stage(),
            vec![one.clone()],
            "the one-stage form is its own view"
        );
    }

    #[test]
    fn arns_follow_the_partition() {
        let mut d = base();
        d.region = "us-gov-west-1".into();
        let d = d.validated().expect("valid");
        assert_eq!(
            d.execution_role_arn(),
            "arn:aws-us-gov:iam::777788889999:role/FerryBedrockImportExecution"
        );
        assert_eq!(
            d.bucket_arn(),
            "arn:aws-us-gov:s3:::model-artifacts-111122223333"
        );
        assert_eq!(
            d.import_jobs_arn(),
            "arn:aws-us-gov:bedrock:us-gov-west-1:777788889999:model-import-job/*"
        );
    }
}
