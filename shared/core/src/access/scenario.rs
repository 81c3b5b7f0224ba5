//! The scenario: every policy of the cross-account chain, from a file (`ferry check
//! --scenario`) or read live from both accounts.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::iam::{Policy, PolicyError};

/// Everything the access checks judge: the accounts, the model folder and every policy
/// of the chain, in the shape of the contract's scenario file.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The AWS region of the import (`us-east-1`); it gives the partition.
    pub region: String,
    /// The model folder, `s3://BUCKET/PREFIX/`, as given.
    pub source_uri: String,
    /// The 12-digit account that holds the bucket with the weights.
    pub research_account: String,
    /// The 12-digit account where Bedrock imports the model.
    pub hosting_account: String,
    /// Account id → organization id.
    pub organizations: BTreeMap<String, String>,
    /// The bucket's policy; `None` when the bucket has none.
    pub bucket_policy: Option<Policy>,
    /// The objects under the prefix; may be empty, then `s3-get` is judged on
    /// `PREFIX` + `config.json`.
    pub objects: Vec<ObjectInfo>,
    /// Key ARN → key policy.
    pub source_keys: BTreeMap<String, Policy>,
    /// The role Bedrock assumes to read the weights, with its trust policy.
    pub execution_role: Principal,
    /// The hosting KMS key that encrypts the imported model (ARN, key policy); `None`:
    /// `kms-imported-model` is skipped.
    pub imported_model_key: Option<(String, Policy)>,
    /// The role or user that passes the role and creates the job; `None`: `pass-role`
    /// and `create-job` are skipped.
    pub caller: Option<Principal>,
    /// Account id → SCP levels (root first), each one or more documents.
    pub scps: BTreeMap<String, Vec<Vec<Policy>>>,
    /// Parts Ferry could not read (live mode). Each stands in the scenario as a policy
    /// that allows everything, so a denial is still certain; an allow is not, and the
    /// checks that depend on the part say so instead of guessing.
    pub unreadable: Vec<Unreadable>,
}

/// A part of the chain that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Which piece of the chain it is.
    pub part: Part,
    /// "could not read the bucket policy of B: AccessDenied (s3:GetBucketPolicy)"
    pub message: String,
}

/// The pieces of the chain a check depends on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// The research bucket's policy.
    BucketPolicy,
    /// The list of objects under the prefix.
    ObjectList,
    /// The encryption of one object (its key).
    ObjectEncryption(String),
    /// The key policy of a research key (its ARN).
    SourceKeyPolicy(String),
    /// The execution role's trust policy.
    TrustPolicy,
    /// The execution role's inline and managed policies.
    RolePolicies,
    /// The execution role's permissions boundary.
    RoleBoundary,
    /// The key policy of the hosting key that encrypts the imported model.
    ImportedModelKeyPolicy,
    /// The caller's inline and managed policies.
    CallerPolicies,
    /// The caller's permissions boundary.
    CallerBoundary,
    /// The organization of an account (for aws:PrincipalOrgID / aws:ResourceOrgID).
    Organization(String),
}

impl Policy {
    /// Stands in for an unreadable identity policy or boundary: allows everything.
    pub(crate) fn unknown_identity() -> Policy {
        Policy::parse(
            &serde_json::json!({"Version": "2012-10-17", "Statement": [{"Sid": "unreadable", "Effect": "Allow", "Action": "*", "Resource": "*"}]}),
            "unreadable",
        )
        .unwrap_or(Policy { version: None, statements: Vec::new() })
    }

    /// Stands in for an unreadable resource policy (bucket, key, trust): allows everyone.
    pub fn unknown_resource() -> Policy {
        Policy::parse(
            &serde_json::json!({"Version": "2012-10-17", "Statement": [{"Sid": "unreadable", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}),
            "unreadable",
        )
        .unwrap_or(Policy { version: None, statements: Vec::new() })
    }
}

/// One object of the model folder.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// The full object key, prefix included (`mistral-model-weights/config.json`).
    pub key: String,
    /// The ARN of the KMS key of an SSE-KMS object; `None` for other encryption (or,
    /// live, when it could not be read: see [`Part::ObjectEncryption`]).
    pub kms_key_arn: Option<String>,
}

/// A role (or user) with the policies that apply to it.
#[derive(Debug, Clone)]
pub struct Principal {
    /// A role, user or assumed-role ARN.
    pub arn: String,
    /// The role's trust policy: always present for the execution role, `None` for the
    /// caller (not judged).
    pub trust_policy: Option<Policy>,
    /// (label, policy): inline policies by name, managed policies by ARN.
    pub identity_policies: Vec<(String, Policy)>,
    /// The boundary policy document; `None` when the role has none.
    pub permissions_boundary: Option<Policy>,
}

/// Why a scenario cannot be judged: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ScenarioError {
    /// Path of the field in the scenario file (`execution_role.trust_policy`).
    pub field: String,
    /// What is wrong with it (`is missing`, `is not a 12-digit account id`).
    pub problem: String,
}

impl From<PolicyError> for ScenarioError {
    fn from(e: PolicyError) -> Self {
        Self {
            field: e.field,
            problem: e.problem,
        }
    }
}

fn err(field: impl Into<String>, problem: impl Into<String>) -> ScenarioError {
    ScenarioError {
        field: field.into(),
        problem: problem.into(),
    }
}

fn is_absent(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

fn text(v: &Value, key: &str, at: &str) -> Result<String, ScenarioError> {
    match v.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(err(format!("{at}{key}"), "is not a string")),
        None => Err(err(format!("{at}{key}"), "is missing")),
    }
}

fn account(v: &Value, key: &str) -> Result<String, ScenarioError> {
    let id = text(v, key, "")?;
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(err(key, format!("{id:?} is not a 12-digit account id")))
    }
}

fn optional_policy(v: &Value, key: &str, at: &str) -> Result<Option<Policy>, ScenarioError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(p) => Ok(Some(Policy::parse(p, &format!("{at}{key}"))?)),
    }
}

fn policy_map(v: &Value, key: &str, at: &str) -> Result<Vec<(String, Policy)>, ScenarioError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(name, p)| {
                Ok((
                    name.clone(),
                    Policy::parse(p, &format!("{at}{key}.{name}"))?,
                ))
            })
            .collect(),
        Some(_) => Err(err(format!("{at}{key}"), "is not an object of policies")),
    }
}

/// An ARN of `service` whose resource starts with `resource_prefix` (see [`crate::aws_names::arn`]).
fn check_arn(
    arn: &str,
    field: &str,
    service: &str,
    resource_prefix: &str,
) -> Result<(), ScenarioError> {
    if crate::aws_names::arn::account_of(arn, service, resource_prefix).is_some() {
        Ok(())
    } else {
        Err(err(field, format!("{arn:?} is not an ARN of the form arn:aws:{service}:...:ACCOUNT:{resource_prefix}...")))
    }
}

impl Principal {
    fn parse(v: &Value, at: &str, with_trust: bool) -> Result<Self, ScenarioError> {
        if !v.is_object() {
            return Err(err(at.trim_end_matches('.'), "is not an object"));
        }
        let arn = text(v, "arn", at)?;
        let field = format!("{at}arn");
        if check_arn(&arn, &field, "iam", "role/").is_err()
            && check_arn(&arn, &field, "iam", "user/").is_err()
            && check_arn(&arn, &field, "sts", "assumed-role/").is_err()
        {
            return Err(err(
                field,
                format!("{arn:?} is not a role, user or assumed-role ARN"),
            ));
        }
        let trust_policy = if with_trust {
            match v.get("trust_policy") {
                Some(p) if !p.is_null() => Some(Policy::parse(p, &format!("{at}trust_policy"))?),
                _ => return Err(err(format!("{at}trust_policy"), "is missing")),
            }
        } else {
            None
        };
        let mut identity_policies = Vec::new();
        for (name, policy) in policy_map(v, "inline_policies", at)? {
            identity_policies.push((format!("inline policy {name} of {arn}"), policy));
        }
        for (name, policy) in policy_map(v, "managed_policies", at)? {
            identity_policies.push((format!("managed policy {name}"), policy));
        }
        Ok(Self {
            permissions_boundary: optional_policy(v, "permissions_boundary", at)?,
            arn,
            trust_policy,
            identity_policies,
        })
    }
}

impl Scenario {
    /// A scenario file (`ferry check --scenario`); the error names the first field
    /// that is wrong.
    pub fn parse(v: &Value) -> Result<Self, ScenarioError> {
        if !v.is_object() {
            return Err(err("(top level)", "is not a JSON object"));
        }
        let source_uri = source_uri(v)?;
        let region = region(v)?;
        let organizations = organizations(v)?;
        let objects = objects(v)?;
        let source_keys = source_keys(v)?;
        check_object_keys(&objects, &source_keys)?;
        let execution_role = match v.get("execution_role") {
            Some(r) if !r.is_null() => Principal::parse(r, "execution_role.", true)?,
            _ => return Err(err("execution_role", "is missing")),
        };
        let imported_model_key = imported_model_key(v)?;
        let caller = if is_absent(v.get("caller")) {
            None
        } else {
            Some(Principal::parse(&v["caller"], "caller.", false)?)
        };
        let scps = scps(v)?;
        Ok(Self {
            region,
            source_uri,
            research_account: account(v, "research_account")?,
            hosting_account: account(v, "hosting_account")?,
            organizations,
            bucket_policy: optional_policy(v, "bucket_policy", "")?,
            objects,
            source_keys,
            execution_role,
            imported_model_key,
            caller,
            scps,
            unreadable: Vec::new(),
        })
    }

    /// `aws`, `aws-us-gov` or `aws-cn`, from the region.
    pub fn partition(&self) -> &'static str {
        partition_of(&self.region)
    }

    /// The bucket and the prefix (verbatim, with a trailing `/` when non-empty).
    pub(crate) fn bucket_and_prefix(&self) -> (String, String) {
        let rest = self.source_uri.trim_start_matches("s3://");
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        (bucket.to_owned(), prefix)
    }
}

/// `source_uri`: an `s3://BUCKET/PREFIX/` URI with a bucket.
fn source_uri(v: &Value) -> Result<String, ScenarioError> {
    let source_uri = text(v, "source_uri", "")?;
    let bucket = source_uri
        .strip_prefix("s3://")
        .map(|rest| rest.split('/').next().unwrap_or(""));
    if bucket.is_none_or(str::is_empty) {
        return Err(err(
            "source_uri",
            format!("{source_uri:?} is not an s3://BUCKET/PREFIX/ URI"),
        ));
    }
    Ok(source_uri)
}

/// `region`: lowercase letters, digits and dashes.
fn region(v: &Value) -> Result<String, ScenarioError> {
    let region = text(v, "region", "")?;
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(err("region", format!("{region:?} is not a region name")));
    }
    Ok(region)
}

/// `organizations`: account id → organization id.
fn organizations(v: &Value) -> Result<BTreeMap<String, String>, ScenarioError> {
    match v.get("organizations") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(acct, org)| {
                org.as_str()
                    .map(|o| (acct.clone(), o.to_owned()))
                    .ok_or_else(|| err(format!("organizations.{acct}"), "is not a string"))
            })
            .collect(),
        Some(_) => Err(err("organizations", "is not an object")),
    }
}

/// `objects`: each a key and, when SSE-KMS, its key's ARN.
fn objects(v: &Value) -> Result<Vec<ObjectInfo>, ScenarioError> {
    match v.get("objects") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, o)| object(o, &format!("objects[{i}].")))
            .collect(),
        Some(_) => Err(err("objects", "is not a list")),
    }
}

fn object(o: &Value, at: &str) -> Result<ObjectInfo, ScenarioError> {
    Ok(ObjectInfo {
        key: text(o, "key", at)?,
        kms_key_arn: match o.get("kms_key_arn") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                check_arn(s, &format!("{at}kms_key_arn"), "kms", "key/")?;
                Some(s.clone())
            }
            Some(_) => return Err(err(format!("{at}kms_key_arn"), "is not a string")),
        },
    })
}

/// `source_keys`: key ARN → key policy.
fn source_keys(v: &Value) -> Result<BTreeMap<String, Policy>, ScenarioError> {
    let mut source_keys = BTreeMap::new();
    match v.get("source_keys") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, k) in items.iter().enumerate() {
                let at = format!("source_keys[{i}].");
                let arn = text(k, "arn", &at)?;
                let policy = k
                    .get("policy")
                    .filter(|p| !p.is_null())
                    .ok_or_else(|| err(format!("{at}policy"), "is missing"))?;
                source_keys.insert(arn, Policy::parse(policy, &format!("{at}policy"))?);
            }
        }
        Some(_) => return Err(err("source_keys", "is not a list")),
    }
    Ok(source_keys)
}

/// Every object's key has a policy in `source_keys`.
fn check_object_keys(
    objects: &[ObjectInfo],
    source_keys: &BTreeMap<String, Policy>,
) -> Result<(), ScenarioError> {
    for (i, o) in objects.iter().enumerate() {
        if let Some(key) = &o.kms_key_arn {
            if !source_keys.contains_key(key) {
                return Err(err(
                    format!("objects[{i}].kms_key_arn"),
                    format!(
                        "{key} has no entry in source_keys: add its key policy to judge kms-source"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `imported_model_key`: its ARN and key policy, when configured.
fn imported_model_key(v: &Value) -> Result<Option<(String, Policy)>, ScenarioError> {
    let k = match v.get("imported_model_key") {
        None | Some(Value::Null) => return Ok(None),
        Some(k) => k,
    };
    let arn = text(k, "arn", "imported_model_key.")?;
    check_arn(&arn, "imported_model_key.arn", "kms", "key/")?;
    let policy = k
        .get("policy")
        .filter(|p| !p.is_null())
        .ok_or_else(|| err("imported_model_key.policy", "is missing"))?;
    Ok(Some((
        arn,
        Policy::parse(policy, "imported_model_key.policy")?,
    )))
}

/// `scps`: account id → levels (root first), each one document or a list of them.
fn scps(v: &Value) -> Result<BTreeMap<String, Vec<Vec<Policy>>>, ScenarioError> {
    let mut scps = BTreeMap::new();
    match v.get("scps") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (acct, levels) in map {
                let levels = levels
                    .as_array()
                    .ok_or_else(|| err(format!("scps.{acct}"), "is not a list of levels"))?;
                let parsed = levels
                    .iter()
                    .enumerate()
                    .map(|(i, level)| scp_level(level, &format!("scps.{acct}[{i}]")))
                    .collect::<Result<_, _>>()?;
                scps.insert(acct.clone(), parsed);
            }
        }
        Some(_) => return Err(err("scps", "is not an object")),
    }
    Ok(scps)
}

/// One SCP level: a document, or a list of them.
fn scp_level(level: &Value, at: &str) -> Result<Vec<Policy>, ScenarioError> {
    match level {
        Value::Array(docs) => docs
            .iter()
            .enumerate()
            .map(|(j, d)| Ok(Policy::parse(d, &format!("{at}[{j}]"))?))
            .collect(),
        doc => Ok(vec![Policy::parse(doc, at)?]),
    }
}

pub use crate::aws_names::region::partition_of;
