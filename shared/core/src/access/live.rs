//! Live mode: the chain's policies read from both accounts through [`PolicyReader`]
//! ports (`ferry-aws` implements them with STS, S3, KMS, IAM and Organizations), into
//! the same [`Scenario`] the offline mode reads from a file. A part that cannot be read
//! is recorded as [`Unreadable`] and never guessed.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::{stream, FutureExt, StreamExt};

use super::scenario::{partition_of, ObjectInfo, Part, Principal, Scenario, Unreadable};
use crate::iam::Policy;
use crate::S3Uri;

/// HeadObject calls in flight when reading the objects' encryption.
const HEAD_CONCURRENCY: usize = 16;

/// A read that AWS refused or that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({operation})")]
pub struct ReadError {
    /// The call, `s3:GetBucketPolicy`.
    pub operation: String,
    /// AWS's error code (`AccessDenied`), or what went wrong.
    pub code: String,
    /// The service refused the caller (as opposed to a missing resource or a fault).
    pub denied: bool,
}

/// A role as IAM's GetRole describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    /// The role's ARN, with its path.
    pub arn: String,
    /// The trust policy document (decoded JSON text).
    pub trust_policy: String,
    /// The ARN of the managed policy set as the role's permissions boundary; `None`
    /// when it has none.
    pub boundary_arn: Option<String>,
}

/// What live mode reads from one account, with that account's credentials.
pub trait PolicyReader: Sync {
    /// The ARN of the identity the reader's credentials belong to.
    fn caller_arn(&self) -> impl Future<Output = Result<String, ReadError>> + Send;
    /// The organization id of the reader's account; `None` when it is in none.
    fn organization(&self) -> impl Future<Output = Result<Option<String>, ReadError>> + Send;
    /// `None`: the bucket has no policy.
    fn bucket_policy(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<Option<String>, ReadError>> + Send;
    /// Every object key under the prefix.
    fn object_keys(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, ReadError>> + Send;
    /// The KMS key of an SSE-KMS object (ARN or key id as S3 reports it).
    fn object_kms_key(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>, ReadError>> + Send;
    /// The key policy (JSON text) of a KMS key, `kms:GetKeyPolicy` on `default`.
    fn key_policy(&self, key_arn: &str) -> impl Future<Output = Result<String, ReadError>> + Send;
    /// The role with this name (not ARN), from `iam:GetRole`.
    fn role(&self, name: &str) -> impl Future<Output = Result<RoleInfo, ReadError>> + Send;
    /// (name, document) of every inline policy of the role.
    fn inline_policies(
        &self,
        role: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, ReadError>> + Send;
    /// The ARNs of the managed policies attached to the role.
    fn attached_policies(
        &self,
        role: &str,
    ) -> impl Future<Output = Result<Vec<String>, ReadError>> + Send;
    /// The document of a managed policy's default version.
    fn managed_policy(&self, arn: &str) -> impl Future<Output = Result<String, ReadError>> + Send;
}

/// What to check, live.
#[derive(Debug, Clone)]
pub struct LiveTarget {
    /// The model folder, `s3://BUCKET/PREFIX/`, in the research account.
    pub source: S3Uri,
    /// The AWS region of the import (`us-east-1`); it also gives the partition.
    pub region: String,
    /// The execution role's ARN; its account is taken as the hosting account.
    pub execution_role: String,
    /// The ARN of the hosting KMS key that will encrypt the imported model
    /// (`importedModelKmsKeyId`); `None`: none given, and `kms-imported-model` is skipped.
    pub imported_model_key: Option<String>,
    /// The role that creates the job (the hosting automation role). `None`: the
    /// hosting reader's own identity, when it is in the hosting account.
    pub caller_role: Option<String>,
}

/// Why live mode could not build a scenario at all (as opposed to an unreadable part).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// The execution role given is not a role ARN, so there is no hosting account.
    #[error("{0:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")]
    ExecutionRole(String),
    /// The research side's `sts:GetCallerIdentity` failed, so the research account is
    /// unknown.
    #[error("could not identify the research account from the credentials: {0}; check AWS_PROFILE / AWS credentials")]
    ResearchIdentity(ReadError),
}

/// Policies read recently, shared by the invocations of a warm container. Object
/// listings and encryption are never cached: they belong to one folder's content.
pub struct PolicyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, CacheEntry>>,
}

/// When it was read, and what (any of the readers' answer types).
type CacheEntry = (Instant, Arc<dyn Any + Send + Sync>);

impl PolicyCache {
    /// An empty cache whose entries are reused for `ttl` after they were read.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get<T: Clone + 'static>(&self, key: &str) -> Option<T> {
        let entries = self.entries.lock().ok()?;
        let (at, value) = entries.get(key)?;
        if at.elapsed() > self.ttl {
            return None;
        }
        value.downcast_ref::<T>().cloned()
    }

    fn put<T: Send + Sync + 'static>(&self, key: String, value: T) {
        if let Ok(mut entries) = self.entries.lock() {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() <= ttl);
            entries.insert(key, (Instant::now(), Arc::new(value)));
        }
    }
}

/// A read through the cache: a fresh success is reused, a failure is not kept.
async fn cached<T, F>(cache: Option<&PolicyCache>, key: String, read: F) -> Result<T, ReadError>
where
    T: Clone + Send + Sync + 'static,
    F: Future<Output = Result<T, ReadError>>,
{
    if let Some(hit) = cache.and_then(|c| c.get::<T>(&key)) {
        return Ok(hit);
    }
    let value = read.await?;
    if let Some(cache) = cache {
        cache.put(key, value.clone());
    }
    Ok(value)
}

/// A reader with a cache scope (one per account, so the same key read from either
/// side, or from two hosting accounts whose roles share names, is two entries).
struct Side<'a, R> {
    reader: &'a R,
    cache: Option<&'a PolicyCache>,
    scope: String,
}

impl<R: PolicyReader> Side<'_, R> {
    fn key(&self, what: &str, name: &str) -> String {
        format!("{}:{what}:{name}", self.scope)
    }
    async fn caller_arn(&self) -> Result<String, ReadError> {
        cached(self.cache, self.key("caller", ""), self.reader.caller_arn()).await
    }
    async fn organization(&self) -> Result<Option<String>, ReadError> {
        cached(self.cache, self.key("org", ""), self.reader.organization()).await
    }
    async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, ReadError> {
        let key = self.key("bucket", bucket);
        cached(self.cache, key, self.reader.bucket_policy(bucket)).await
    }
    async fn key_policy(&self, arn: &str) -> Result<String, ReadError> {
        cached(
            self.cache,
            self.key("kms", arn),
            self.reader.key_policy(arn),
        )
        .await
    }
    async fn role(&self, name: &str) -> Result<RoleInfo, ReadError> {
        cached(self.cache, self.key("role", name), self.reader.role(name)).await
    }
    async fn inline_policies(&self, role: &str) -> Result<Vec<(String, String)>, ReadError> {
        let key = self.key("inline", role);
        cached(self.cache, key, self.reader.inline_policies(role)).await
    }
    async fn attached_policies(&self, role: &str) -> Result<Vec<String>, ReadError> {
        let key = self.key("attached", role);
        cached(self.cache, key, self.reader.attached_policies(role)).await
    }
    async fn managed_policy(&self, arn: &str) -> Result<String, ReadError> {
        let key = self.key("managed", arn);
        cached(self.cache, key, self.reader.managed_policy(arn)).await
    }
}

/// Reads every part of the chain for `target`: the research side with `research`'s
/// credentials, the hosting side (roles, imported-model key) with `hosting`'s. Every
/// part is read at once; only the parts that need an account id (bare key ids, the
/// organizations, a caller named by the credentials) wait for the identities.
pub async fn read_live<R: PolicyReader, H: PolicyReader>(
    research: &R,
    hosting: &H,
    target: &LiveTarget,
    cache: Option<&PolicyCache>,
) -> Result<Scenario, LiveError> {
    let hosting_account = crate::aws_names::arn::account_of(&target.execution_role, "iam", "role/")
        .ok_or_else(|| LiveError::ExecutionRole(target.execution_role.clone()))?
        .to_owned();
    let research = Side {
        reader: research,
        cache,
        scope: "research".to_owned(),
    };
    let hosting = Side {
        reader: hosting,
        cache,
        scope: format!("hosting:{hosting_account}"),
    };
    // Both identities, each read once: the research one names the research account,
    // the hosting one checks the hosting side's account and is the default caller.
    let identities = async {
        let (research_arn, hosting_me) =
            futures_util::join!(research.caller_arn(), hosting.caller_arn());
        Accounts::of(research_arn, hosting_me, &hosting_account)
    }
    .boxed()
    .shared();
    let (accounts, (chain, mut unreadable)) = futures_util::join!(
        identities.clone(),
        read_chain(&research, &hosting, target, &hosting_account, identities)
    );
    let accounts = accounts.map_err(LiveError::ResearchIdentity)?;
    unreadable.sort_by(|a, b| a.part.cmp(&b.part));
    unreadable.dedup();

    Ok(Scenario {
        region: target.region.clone(),
        source_uri: target.source.to_string(),
        research_account: accounts.research,
        hosting_account: accounts.hosting,
        organizations: chain.organizations,
        bucket_policy: chain.bucket_policy,
        objects: chain.objects,
        source_keys: chain.source_keys,
        execution_role: chain.execution_role,
        imported_model_key: chain.imported_model_key,
        caller: chain.caller,
        scps: BTreeMap::new(),
        unreadable,
    })
}

/// The two accounts of the chain, and who the hosting side's credentials are.
#[derive(Clone)]
struct Accounts {
    research: String,
    hosting: String,
    /// The hosting reader's own ARN.
    hosting_me: Result<String, ReadError>,
}

impl Accounts {
    /// From both identities; `Err`: the research one could not be read.
    fn of(
        research_arn: Result<String, ReadError>,
        hosting_me: Result<String, ReadError>,
        hosting: &str,
    ) -> Result<Accounts, ReadError> {
        Ok(Accounts {
            research: research_arn?.split(':').nth(4).unwrap_or("").to_owned(),
            hosting: hosting.to_owned(),
            hosting_me,
        })
    }
}

/// The identities, read once and awaited by each part that needs them.
type Identities<'a> = futures_util::future::Shared<BoxFuture<'a, Result<Accounts, ReadError>>>;

/// The parts of the chain.
struct ChainParts {
    bucket_policy: Option<Policy>,
    objects: Vec<ObjectInfo>,
    source_keys: BTreeMap<String, Policy>,
    organizations: BTreeMap<String, String>,
    execution_role: Principal,
    caller: Option<Principal>,
    imported_model_key: Option<(String, Policy)>,
}

/// Reads the bucket policy, the objects and their keys' policies, the organizations,
/// the roles and the imported-model key concurrently; with every part that could not
/// be read. A part that needs the accounts waits for `identities`; without the research
/// identity it stays empty (the caller fails on it).
async fn read_chain<R: PolicyReader, H: PolicyReader>(
    research: &Side<'_, R>,
    hosting: &Side<'_, H>,
    target: &LiveTarget,
    hosting_account: &str,
    identities: Identities<'_>,
) -> (ChainParts, Vec<Unreadable>) {
    let bucket = target.source.bucket.as_str();
    let (bucket_policy, objects, organizations, execution_role, caller, imported_model_key) = futures_util::join!(
        read_bucket_policy(research, bucket),
        read_objects_and_keys(research, hosting, target, identities.clone()),
        read_organizations(research, hosting, identities.clone()),
        read_role(hosting, &target.execution_role, RoleParts::EXECUTION),
        read_caller(
            hosting,
            target.caller_role.as_deref(),
            hosting_account,
            identities.clone()
        ),
        read_key(
            hosting,
            target.imported_model_key.as_deref(),
            Part::ImportedModelKeyPolicy
        ),
    );
    let mut unreadable = Vec::new();
    let ((objects, source_keys), u) = objects;
    unreadable.extend(u);
    let parts = ChainParts {
        bucket_policy: keep(&mut unreadable, bucket_policy),
        objects,
        source_keys,
        organizations: keep(&mut unreadable, organizations),
        execution_role: keep(&mut unreadable, execution_role),
        caller: keep(&mut unreadable, caller),
        imported_model_key: keep(&mut unreadable, imported_model_key),
    };
    (parts, unreadable)
}

/// The value of a read, its unreadable parts added to `unreadable`.
fn keep<T>(unreadable: &mut Vec<Unreadable>, (value, problems): (T, Vec<Unreadable>)) -> T {
    unreadable.extend(problems);
    value
}

/// The objects and the policies of their research keys: listed, each object's key
/// read, then the keys' policies, all at once.
async fn read_objects_and_keys<R: PolicyReader, H: PolicyReader>(
    research: &Side<'_, R>,
    hosting: &Side<'_, H>,
    target: &LiveTarget,
    identities: Identities<'_>,
) -> ((Vec<ObjectInfo>, BTreeMap<String, Policy>), Vec<Unreadable>) {
    let heads = read_heads(research, &target.source).await;
    let Ok(accounts) = identities.await else {
        return ((Vec::new(), BTreeMap::new()), Vec::new());
    };
    let partition = partition_of(&target.region);
    let (objects, mut problems) = match heads {
        Ok(heads) => {
            let bucket = target.source.bucket.as_str();
            objects_of(heads, bucket, partition, &target.region, &accounts.research)
        }
        Err(problem) => (Vec::new(), vec![problem]),
    };
    let (source_keys, u) = read_source_keys(research, hosting, &objects, &accounts).await;
    problems.extend(u);
    ((objects, source_keys), problems)
}

/// The research keys of the objects, each read in the account that owns it.
async fn read_source_keys<R: PolicyReader, H: PolicyReader>(
    research: &Side<'_, R>,
    hosting: &Side<'_, H>,
    objects: &[ObjectInfo],
    accounts: &Accounts,
) -> (BTreeMap<String, Policy>, Vec<Unreadable>) {
    let key_arns: BTreeSet<&String> = objects
        .iter()
        .filter_map(|o| o.kms_key_arn.as_ref())
        .collect();
    let reads = key_arns.into_iter().map(|arn| async move {
        let part = Part::SourceKeyPolicy(arn.clone());
        let owner = arn.split(':').nth(4).unwrap_or("");
        if owner == accounts.hosting && owner != accounts.research {
            read_key(hosting, Some(arn), part).await
        } else {
            read_key(research, Some(arn), part).await
        }
    });
    let mut source_keys = BTreeMap::new();
    let mut unreadable = Vec::new();
    for (policy, u) in futures_util::future::join_all(reads).await {
        unreadable.extend(u);
        if let Some((arn, policy)) = policy {
            source_keys.insert(arn, policy);
        }
    }
    (source_keys, unreadable)
}

fn unreadable(part: Part, what: &str, err: impl std::fmt::Display) -> Unreadable {
    Unreadable {
        part,
        message: format!("could not read {what}: {err}"),
    }
}

/// A policy document as AWS returned it, parsed; a document Ferry cannot parse is
/// unreadable too (judging without it would be guessing).
fn parse_document(text: &str, label: &str) -> Result<Policy, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("it is not JSON ({e})"))?;
    Policy::parse(&value, label).map_err(|e| format!("Ferry cannot parse it ({e})"))
}

async fn read_bucket_policy<R: PolicyReader>(
    side: &Side<'_, R>,
    bucket: &str,
) -> (Option<Policy>, Vec<Unreadable>) {
    let what = format!("the bucket policy of {bucket}");
    match side.bucket_policy(bucket).await {
        Ok(None) => (None, Vec::new()),
        Ok(Some(text)) => match parse_document(&text, "bucket_policy") {
            Ok(policy) => (Some(policy), Vec::new()),
            Err(e) => (
                Some(Policy::unknown_resource()),
                vec![unreadable(Part::BucketPolicy, &what, e)],
            ),
        },
        Err(e) => (
            Some(Policy::unknown_resource()),
            vec![unreadable(Part::BucketPolicy, &what, e)],
        ),
    }
}

/// Every object under the prefix with what S3 says of its encryption.
type Heads = Vec<(String, Result<Option<String>, ReadError>)>;

async fn read_heads<R: PolicyReader>(
    side: &Side<'_, R>,
    source: &S3Uri,
) -> Result<Heads, Unreadable> {
    let (bucket, prefix) = (source.bucket.as_str(), source.prefix.as_str());
    let keys = side.reader.object_keys(bucket, prefix).await.map_err(|e| {
        let what = format!("the objects under s3://{bucket}/{prefix}");
        unreadable(Part::ObjectList, &what, e)
    })?;
    Ok(stream::iter(keys)
        .map(|key| async move {
            let kms = side.reader.object_kms_key(bucket, &key).await;
            (key, kms)
        })
        .buffered(HEAD_CONCURRENCY)
        .collect()
        .await)
}

/// The objects with their keys as ARNs (a bare key id is the research account's).
fn objects_of(
    heads: Heads,
    bucket: &str,
    partition: &str,
    region: &str,
    research_account: &str,
) -> (Vec<ObjectInfo>, Vec<Unreadable>) {
    let mut objects = Vec::new();
    let mut problems = Vec::new();
    for (key, kms) in heads {
        let kms_key_arn = match kms {
            Ok(kms) => kms.map(|id| {
                if id.starts_with("arn:") {
                    id
                } else {
                    format!("arn:{partition}:kms:{region}:{research_account}:key/{id}")
                }
            }),
            Err(e) => {
                let what = format!("the encryption of s3://{bucket}/{key}");
                problems.push(unreadable(Part::ObjectEncryption(key.clone()), &what, e));
                None
            }
        };
        objects.push(ObjectInfo { key, kms_key_arn });
    }
    (objects, problems)
}

async fn read_organizations<R: PolicyReader, H: PolicyReader>(
    research: &Side<'_, R>,
    hosting: &Side<'_, H>,
    identities: Identities<'_>,
) -> (BTreeMap<String, String>, Vec<Unreadable>) {
    let (r, h) = futures_util::join!(research.organization(), hosting.organization());
    let Ok(accounts) = identities.await else {
        return (BTreeMap::new(), Vec::new());
    };
    let (research_account, hosting_account) =
        (accounts.research.as_str(), accounts.hosting.as_str());
    // The hosting reader's organization is the hosting account's only if it is in it.
    let h = match &accounts.hosting_me {
        Ok(me) if me.split(':').nth(4) != Some(hosting_account) => Err(ReadError {
            operation: "organizations:DescribeOrganization".into(),
            code: format!(
                "the hosting side's credentials are of account {}, not {hosting_account}",
                me.split(':').nth(4).unwrap_or("?")
            ),
            denied: false,
        }),
        _ => h,
    };
    let mut organizations = BTreeMap::new();
    let mut problems = Vec::new();
    for (account, result) in [(research_account, r), (hosting_account, h)] {
        match result {
            Ok(Some(org)) => {
                organizations.insert(account.to_owned(), org);
            }
            Ok(None) => {}
            Err(e) => problems.push(unreadable(
                Part::Organization(account.to_owned()),
                &format!("the organization of account {account}"),
                e,
            )),
        }
    }
    (organizations, problems)
}

/// Which parts a role's reading fills.
#[derive(Clone, Copy)]
struct RoleParts {
    trust: Option<fn() -> Part>,
    policies: fn() -> Part,
    boundary: fn() -> Part,
}

impl RoleParts {
    const EXECUTION: RoleParts = RoleParts {
        trust: Some(|| Part::TrustPolicy),
        policies: || Part::RolePolicies,
        boundary: || Part::RoleBoundary,
    };
    const CALLER: RoleParts = RoleParts {
        trust: None,
        policies: || Part::CallerPolicies,
        boundary: || Part::CallerBoundary,
    };

    /// Every part the role's reading fills, each unreadable for the same reason.
    fn all_unreadable(self, message: &str) -> Vec<Unreadable> {
        self.trust
            .into_iter()
            .map(|p| p())
            .chain([(self.policies)(), (self.boundary)()])
            .map(|part| Unreadable {
                part,
                message: message.to_owned(),
            })
            .collect()
    }
}

/// The name of a role from its ARN (`role/path/name` → `name`) or assumed-role ARN.
fn role_name(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    if let Some(path) = resource.strip_prefix("role/") {
        path.rsplit('/').next()
    } else {
        resource.strip_prefix("assumed-role/")?.split('/').next()
    }
}

/// A role and its policies; what cannot be read stays the optimistic stand-in and is
/// reported.
async fn read_role<R: PolicyReader>(
    side: &Side<'_, R>,
    arn: &str,
    parts: RoleParts,
) -> (Principal, Vec<Unreadable>) {
    let mut principal = Principal {
        arn: arn.to_owned(),
        trust_policy: parts.trust.map(|_| Policy::unknown_resource()),
        identity_policies: vec![(
            format!("unreadable policies of {arn}"),
            Policy::unknown_identity(),
        )],
        // No boundary is the optimistic stand-in: an allow-all boundary would still
        // count as "has a boundary" for Deny statements with NotPrincipal.
        permissions_boundary: None,
    };
    // The role and its policies at once: the policies need only the name in the ARN.
    let (found, texts) = futures_util::join!(find_role(side, arn), async {
        match role_name(arn) {
            Some(name) => read_identity_texts(side, name).await,
            None => Err(String::new()),
        }
    });
    let info = match found {
        Ok((_, info)) => info,
        Err(message) => return (principal, parts.all_unreadable(&message)),
    };
    let mut problems = Vec::new();
    principal.arn = info.arn.clone();
    if let Some(trust_part) = parts.trust {
        match parse_document(&info.trust_policy, "trust_policy") {
            Ok(policy) => principal.trust_policy = Some(policy),
            Err(e) => problems.push(unreadable(
                trust_part(),
                &format!("the trust policy of {}", info.arn),
                e,
            )),
        }
    }
    let boundary = read_boundary(side, &info).await;
    let identity = texts.and_then(|texts| identity_policies(texts, &info.arn));
    match identity {
        Ok(policies) => principal.identity_policies = policies,
        Err(e) => problems.push(unreadable(
            (parts.policies)(),
            &format!("the policies of {}", info.arn),
            e,
        )),
    }
    match boundary {
        Ok(boundary) => principal.permissions_boundary = boundary,
        Err(e) => problems.push(unreadable(
            (parts.boundary)(),
            &format!("the permissions boundary of {}", info.arn),
            e,
        )),
    }
    (principal, problems)
}

/// The role's name and IAM's description of it, in the account its ARN names; `Err`:
/// why none of its parts can be read.
async fn find_role<'a, R: PolicyReader>(
    side: &Side<'_, R>,
    arn: &'a str,
) -> Result<(&'a str, RoleInfo), String> {
    let Some(name) = role_name(arn) else {
        return Err(format!(
            "could not read the policies of {arn}: Ferry reads roles only, and it is not a role ARN"
        ));
    };
    let info = side
        .role(name)
        .await
        .map_err(|e| format!("could not read the role {arn}: {e}"))?;
    let expected = arn.split(':').nth(4).unwrap_or("");
    let got = info.arn.split(':').nth(4).unwrap_or("");
    if got != expected {
        return Err(format!(
            "could not read the role {arn}: the credentials read account {got}'s role of that name, not \
             account {expected}'s; read the hosting side with that account's credentials (--hosting-role)"
        ));
    }
    Ok((name, info))
}

/// The role's permissions boundary, if it has one.
async fn read_boundary<R: PolicyReader>(
    side: &Side<'_, R>,
    info: &RoleInfo,
) -> Result<Option<Policy>, String> {
    match &info.boundary_arn {
        None => Ok(None),
        Some(b) => side
            .managed_policy(b)
            .await
            .map_err(|e| e.to_string())
            .and_then(|text| parse_document(&text, "permissions_boundary"))
            .map(Some),
    }
}

/// The texts of a role's policies: (name, document) of each inline one and (ARN,
/// document) of each managed one, every document read at once.
type PolicyTexts = (Vec<(String, String)>, Vec<(String, String)>);

async fn read_identity_texts<R: PolicyReader>(
    side: &Side<'_, R>,
    name: &str,
) -> Result<PolicyTexts, String> {
    let (inline, attached) =
        futures_util::join!(side.inline_policies(name), side.attached_policies(name));
    let inline = inline.map_err(|e| e.to_string())?;
    let reads = attached
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|policy_arn| async move {
            let text = side
                .managed_policy(&policy_arn)
                .await
                .map_err(|e| format!("{policy_arn}: {e}"))?;
            Ok::<_, String>((policy_arn, text))
        });
    let managed = futures_util::future::try_join_all(reads).await?;
    Ok((inline, managed))
}

/// Inline policies by name, managed policies by ARN, labelled as the offline mode does.
fn identity_policies(
    (inline, managed): PolicyTexts,
    arn: &str,
) -> Result<Vec<(String, Policy)>, String> {
    let inline = inline
        .into_iter()
        .map(|(name, text)| (format!("inline policy {name} of {arn}"), text));
    let managed = managed
        .into_iter()
        .map(|(policy_arn, text)| (format!("managed policy {policy_arn}"), text));
    inline
        .chain(managed)
        .map(|(label, text)| {
            let policy = parse_document(&text, &label).map_err(|e| format!("{label}: {e}"))?;
            Ok((label, policy))
        })
        .collect()
}

/// The caller judged for `pass-role` and `create-job`: the named role, else the
/// hosting credentials' own identity (known once the identities are read).
async fn read_caller<R: PolicyReader>(
    side: &Side<'_, R>,
    caller_role: Option<&str>,
    hosting: &str,
    identities: Identities<'_>,
) -> (Option<Principal>, Vec<Unreadable>) {
    let arn = match caller_role {
        Some(arn) => arn.to_owned(),
        None => match identities.await.map(|a| a.hosting_me) {
            Ok(Ok(arn)) => arn,
            Ok(Err(e)) => {
                let message = format!("could not identify the caller: {e}");
                let problems = [Part::CallerPolicies, Part::CallerBoundary]
                    .into_iter()
                    .map(|part| Unreadable {
                        part,
                        message: message.clone(),
                    })
                    .collect();
                return (None, problems);
            }
            Err(_) => return (None, Vec::new()),
        },
    };
    // A caller outside the hosting account cannot pass its role: nothing to judge.
    if arn.split(':').nth(4) != Some(hosting) {
        return (None, Vec::new());
    }
    let (principal, problems) = read_role(side, &arn, RoleParts::CALLER).await;
    (Some(principal), problems)
}

async fn read_key<R: PolicyReader>(
    side: &Side<'_, R>,
    arn: Option<&str>,
    part: Part,
) -> (Option<(String, Policy)>, Vec<Unreadable>) {
    let Some(arn) = arn else {
        return (None, Vec::new());
    };
    let what = format!("the key policy of {arn}");
    let result = side
        .key_policy(arn)
        .await
        .map_err(|e| e.to_string())
        .and_then(|text| parse_document(&text, "key_policy"));
    match result {
        Ok(policy) => (Some((arn.to_owned(), policy)), Vec::new()),
        Err(e) => (
            Some((arn.to_owned(), Policy::unknown_resource())),
            vec![unreadable(part, &what, e)],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::role_name;

    #[test]
    fn role_names_come_from_role_and_session_arns() {
        assert_eq!(role_name("arn:aws:iam::777788889999:role/R"), Some("R"));
        assert_eq!(role_name("arn:aws:iam::777788889999:role/a/b/R"), Some("R"));
        assert_eq!(
            role_name("arn:aws:sts::777788889999:assumed-role/R/session"),
            Some("R")
        );
        assert_eq!(role_name("arn:aws:iam::777788889999:user/u"), None);
        assert_eq!(role_name("nonsense"), None);
    }
}
