//! The HTTP server and the account's state: jobs, imported models, counters.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use ferry_serve::{OnAcceptError, Server};

use crate::accounts::Accounts;
use crate::runtime;
use crate::wire::{self, ApiError};
use crate::{artifacts, Config, Counters, FaultKind, Shared};

#[derive(Debug, Clone)]
struct Job {
    arn: String,
    name: String,
    model_name: String,
    role_arn: String,
    s3_uri: String,
    status: &'static str,
    failure: Option<String>,
    created: SystemTime,
    modified: SystemTime,
    ended: Option<SystemTime>,
    model_arn: Option<String>,
    kms_key: Option<String>,
    vpc: Option<Value>,
    token: Option<String>,
    job_tags: Vec<(String, String)>,
    model_tags: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Model {
    arn: String,
    name: String,
    job_name: String,
    job_arn: String,
    s3_uri: String,
    created: SystemTime,
    architecture: String,
    kms_key: Option<String>,
    units: u64,
    tags: Vec<(String, String)>,
    /// InvokeModel calls that reached this model, not-ready ones included.
    invocations: u64,
}

pub struct State {
    config: Config,
    /// `config.broken_models`, compiled once.
    broken: Option<regex_lite::Regex>,
    jobs: Vec<Job>,
    models: Vec<Model>,
    requests: u64,
    counters: Counters,
    next_id: u64,
    /// Jobs that end now fail as if the execution role could not read the artifacts.
    deny_reads: bool,
}

impl State {
    /// 12 lowercase alphanumerics, as in Bedrock's ARNs.
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        // splitmix64: distinct, random-looking ids without a dependency.
        let mut z = self.next_id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..12)
            .map(|i| alphabet[((z >> (i * 5)) % 36) as usize] as char)
            .collect()
    }

    fn arn(&self, resource: &str) -> String {
        let partition = if self.config.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else if self.config.region.starts_with("cn-") {
            "aws-cn"
        } else {
            "aws"
        };
        format!(
            "arn:{partition}:bedrock:{}:{}:{resource}",
            self.config.region, self.config.account
        )
    }
}

/// A running emulator; dropping it stops the server.
pub struct Emulator {
    endpoint: String,
    /// The configured account's state (`Config::account`).
    state: Shared,
    accounts: Arc<Accounts>,
    _server: Server,
}

impl State {
    fn new(config: Config) -> anyhow::Result<State> {
        let broken = match &config.broken_models {
            Some(pattern) => Some(
                regex_lite::Regex::new(pattern)
                    .map_err(|e| anyhow::anyhow!("broken_models {pattern:?}: {e}"))?,
            ),
            None => None,
        };
        Ok(State {
            config,
            broken,
            jobs: Vec::new(),
            models: Vec::new(),
            requests: 0,
            counters: Counters::default(),
            next_id: 0,
            deny_reads: false,
        })
    }
}

impl Emulator {
    /// Serves on 127.0.0.1:`port` (0: any free port).
    pub async fn start(config: Config, port: u16) -> anyhow::Result<Emulator> {
        let mut by_id = BTreeMap::new();
        let served = std::iter::once(&config.account).chain(&config.other_accounts);
        for (n, account) in (0u64..).zip(served) {
            let own = Config {
                account: account.clone(),
                ..config.clone()
            };
            let mut state = State::new(own)?;
            // Distinct ids across accounts, as Bedrock's are.
            state.next_id = n << 32;
            by_id.insert(account.clone(), Arc::new(Mutex::new(state)));
        }
        let state = by_id
            .get(&config.account)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no state for {}", config.account))?;
        let identity = config
            .artifacts
            .clone()
            .map(|source| (source, config.region.clone()));
        let accounts = Arc::new(Accounts::new(by_id, identity)?);
        let serving = accounts.clone();
        let server = Server::start(port, OnAcceptError::Skip, move |request| {
            let accounts = serving.clone();
            async move { handle(&accounts, request).await }
        })
        .await?;
        Ok(Emulator {
            endpoint: format!("http://{}", server.address()),
            state,
            accounts,
            _server: server,
        })
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_BEDROCK`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Requests served so far, by operation.
    pub fn counters(&self) -> Counters {
        lock(&self.state).counters.clone()
    }

    /// Replaces the injected faults (the request count carries on).
    pub fn set_faults(&self, faults: Vec<crate::Fault>) {
        lock(&self.state).config.faults = faults;
    }

    /// Makes the jobs that end from now on fail with AWS's access message (`true`), as if
    /// the chain broke while they ran, or read normally again (`false`).
    pub fn deny_artifact_reads(&self, deny: bool) {
        lock(&self.state).deny_reads = deny;
    }

    /// Names of the imported models the account holds.
    pub fn imported_models(&self) -> Vec<String> {
        model_names(&self.state)
    }

    /// Names of the imported models `account` holds (empty for an account not served).
    pub fn imported_models_in(&self, account: &str) -> Vec<String> {
        self.accounts
            .get(account)
            .map(model_names)
            .unwrap_or_default()
    }

    /// InvokeModel calls that reached the model named `name_or_arn` (each HTTP attempt
    /// counts, so an SDK's own retries show), or `None` for an unknown model.
    pub fn invocations(&self, name_or_arn: &str) -> Option<u64> {
        lock(&self.state)
            .models
            .iter()
            .find(|m| m.arn == name_or_arn || m.name == name_or_arn)
            .map(|m| m.invocations)
    }

    /// (job name, status) of every job, oldest first.
    pub fn jobs(&self) -> Vec<(String, String)> {
        job_list(&self.state)
    }

    /// (job name, status) of every job of `account`, oldest first.
    pub fn jobs_in(&self, account: &str) -> Vec<(String, String)> {
        self.accounts.get(account).map(job_list).unwrap_or_default()
    }
}

fn model_names(state: &Shared) -> Vec<String> {
    lock(state).models.iter().map(|m| m.name.clone()).collect()
}

fn job_list(state: &Shared) -> Vec<(String, String)> {
    lock(state)
        .jobs
        .iter()
        .map(|j| (j.name.clone(), j.status.to_owned()))
        .collect()
}

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panicking handler must not take the whole emulator down with it.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn respond(status: u16, body: &Value, error_type: Option<&str>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Some(kind) = error_type.and_then(|k| hyper::header::HeaderValue::from_str(k).ok()) {
        headers.insert("x-amzn-errortype", kind);
    }
    response
}

async fn handle(accounts: &Accounts, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let authorization = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path = request.uri().path().to_owned();
    let query = parse_query(request.uri().query().unwrap_or(""));
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if method == Method::POST
        && segments
            == [
                "service",
                "GraniteServiceVersion20100801",
                "operation",
                "GetMetricStatistics",
            ]
    {
        return no_invocations();
    }
    let Some(operation) = operation_of(&method, &segments) else {
        let error = ApiError::new(404, "UnknownOperationException", format!("{method} {path}"));
        return respond(error.status, &error.body(), Some(error.kind));
    };
    let state = match accounts.of(authorization.as_deref()).await {
        Ok(state) => state,
        Err(error) => return respond(error.status, &error.body(), Some(error.kind)),
    };
    let state = &state;
    if let Some(fault) = injected_fault(state, operation) {
        return respond(fault.status, &fault.body(), Some(fault.kind));
    }
    if operation == "InvokeModel" {
        return match invoke(state, segments[1], &body) {
            Ok(answer) => respond(200, &answer, None),
            Err((error, body)) => respond(error.status, &body, Some(error.kind)),
        };
    }
    let input: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                let error = ApiError::new(400, "SerializationException", e.to_string());
                return respond(error.status, &error.body(), Some(error.kind));
            }
        }
    };
    let result = match operation {
        "CreateModelImportJob" => create_job(state, &input),
        "ListModelImportJobs" => list_jobs(state, &query),
        "GetModelImportJob" => get_job(state, segments[1]),
        "ListImportedModels" => list_models(state, &query),
        "GetImportedModel" => get_model(state, segments[1]),
        "DeleteImportedModel" => delete_model(state, segments[1]),
        "ListTagsForResource" => list_tags(state, &input),
        _ => tag_resource(state, &input),
    };
    match result {
        Ok((status, body)) => respond(status, &body, None),
        Err(error) => respond(error.status, &error.body(), Some(error.kind)),
    }
}

/// The operation a request's method and path name.
fn operation_of(method: &Method, segments: &[&str]) -> Option<&'static str> {
    Some(match (method, segments) {
        (&Method::POST, ["model-import-jobs"]) => "CreateModelImportJob",
        (&Method::GET, ["model-import-jobs"]) => "ListModelImportJobs",
        (&Method::GET, ["model-import-jobs", _]) => "GetModelImportJob",
        (&Method::GET, ["imported-models"]) => "ListImportedModels",
        (&Method::GET, ["imported-models", _]) => "GetImportedModel",
        (&Method::DELETE, ["imported-models", _]) => "DeleteImportedModel",
        (&Method::POST, ["listTagsForResource"]) => "ListTagsForResource",
        (&Method::POST, ["tagResource"]) => "TagResource",
        (&Method::POST, ["model", _, "invoke"]) => "InvokeModel",
        _ => return None,
    })
}

/// CloudWatch's GetMetricStatistics (rpcv2Cbor, which moto 5.2 does not speak): no
/// datapoints, i.e. no model was invoked, so the tracker's idle rule can be exercised.
fn no_invocations() -> Response<Full<Bytes>> {
    // CBOR for {"Datapoints": [], "Label": "Invocations"}.
    let mut body = vec![0xA2, 0x6A];
    body.extend_from_slice(b"Datapoints");
    body.extend_from_slice(&[0x80, 0x65]);
    body.extend_from_slice(b"Label");
    body.push(0x6B);
    body.extend_from_slice(b"Invocations");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/cbor"),
    );
    headers.insert(
        "smithy-protocol",
        hyper::header::HeaderValue::from_static("rpc-v2-cbor"),
    );
    response
}

fn injected_fault(state: &Shared, operation: &str) -> Option<ApiError> {
    let mut s = lock(state);
    s.requests += 1;
    let n = s.requests;
    let fault = s.config.faults.iter().find(|f| n % f.every == 0).copied();
    let key = if fault.is_some() { "fault" } else { operation };
    *s.counters.0.entry(key.to_owned()).or_default() += 1;
    fault.map(|f| match f.kind {
        FaultKind::Throttling => ApiError::throttling(),
        FaultKind::Internal => ApiError::internal(),
    })
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

type Outcome = Result<(u16, Value), ApiError>;

fn required<'a>(input: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    input[field].as_str().ok_or_else(|| {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// A CreateModelImportJob request whose fields passed Bedrock's checks.
struct JobRequest<'a> {
    job_name: &'a str,
    model_name: &'a str,
    role_arn: &'a str,
    s3_uri: &'a str,
    token: Option<&'a str>,
    job_tags: Vec<(String, String)>,
    model_tags: Vec<(String, String)>,
    kms_key: Option<String>,
    vpc: Option<Value>,
}

impl<'a> JobRequest<'a> {
    /// Reads and checks the request's fields, in the order Bedrock reports them.
    fn parse(input: &'a Value) -> Result<JobRequest<'a>, ApiError> {
        let job_name = required(input, "jobName")?;
        let model_name = required(input, "importedModelName")?;
        let role_arn = required(input, "roleArn")?;
        let s3_uri = input["modelDataSource"]["s3DataSource"]["s3Uri"]
            .as_str()
            .ok_or_else(|| {
                ApiError::validation("modelDataSource.s3DataSource.s3Uri is required")
            })?;
        wire::check_job_name(job_name)?;
        wire::check_model_name(model_name)?;
        wire::check_role_arn(role_arn)?;
        wire::check_s3_uri(s3_uri)?;
        let token = input["clientRequestToken"].as_str();
        if let Some(token) = token {
            wire::check_token(token)?;
        }
        let job_tags = wire::tags_from(input, "jobTags")?;
        let model_tags = wire::tags_from(input, "importedModelTags")?;
        wire::check_tags("jobTags", &job_tags)?;
        wire::check_tags("importedModelTags", &model_tags)?;
        let kms_key = input["importedModelKmsKeyId"].as_str().map(str::to_owned);
        let vpc = input.get("vpcConfig").cloned().filter(|v| !v.is_null());
        if let Some(vpc) = &vpc {
            check_vpc(vpc)?;
        }
        Ok(JobRequest {
            job_name,
            model_name,
            role_arn,
            s3_uri,
            token,
            job_tags,
            model_tags,
            kms_key,
            vpc,
        })
    }
}

fn check_vpc(vpc: &Value) -> Result<(), ApiError> {
    let subnets = vpc["subnetIds"].as_array().map_or(0, Vec::len);
    let groups = vpc["securityGroupIds"].as_array().map_or(0, Vec::len);
    if !(1..=16).contains(&subnets) || !(1..=5).contains(&groups) {
        return Err(ApiError::validation(
            "vpcConfig needs 1-16 subnetIds and 1-5 securityGroupIds",
        ));
    }
    Ok(())
}

fn create_job(state: &Shared, input: &Value) -> Outcome {
    let request = JobRequest::parse(input)?;
    let mut s = lock(state);
    s.check_role_account(request.role_arn)?;
    if let Some(arn) = s.replayed(&request)? {
        return Ok((201, json!({"jobArn": arn})));
    }
    s.check_names_free(&request)?;
    s.check_quotas()?;
    let arn = s.add_job(request);
    let duration = s.config.job_duration;
    drop(s);
    tokio::spawn(run_job(state.clone(), arn.clone(), duration));
    Ok((201, json!({"jobArn": arn})))
}

impl State {
    /// Bedrock does not pass a role across accounts.
    fn check_role_account(&self, role_arn: &str) -> Result<(), ApiError> {
        let role_account = role_arn.split(':').nth(4).unwrap_or_default();
        if role_account != self.config.account {
            return Err(ApiError::validation(format!(
                "The role {role_arn} must belong to account {}: Amazon Bedrock does not pass a role across accounts",
                self.config.account
            )));
        }
        Ok(())
    }

    /// The same token is the same request: the job it created, to answer again
    /// (creating nothing); a conflict when the token came with a different request.
    fn replayed(&self, request: &JobRequest) -> Result<Option<String>, ApiError> {
        let Some(token) = request.token else {
            return Ok(None);
        };
        let Some(job) = self.jobs.iter().find(|j| j.token.as_deref() == Some(token)) else {
            return Ok(None);
        };
        if job.name == request.job_name
            && job.model_name == request.model_name
            && job.s3_uri == request.s3_uri
        {
            return Ok(Some(job.arn.clone()));
        }
        Err(ApiError::conflict(format!(
            "The client request token {token} was used for a different request"
        )))
    }

    /// The job's name is new and its model's name is neither imported nor being imported.
    fn check_names_free(&self, request: &JobRequest) -> Result<(), ApiError> {
        let (job_name, model_name) = (request.job_name, request.model_name);
        if self.jobs.iter().any(|j| j.name == job_name) {
            return Err(ApiError::conflict(format!(
                "A model import job named {job_name} already exists."
            )));
        }
        if self.models.iter().any(|m| m.name == model_name)
            || self
                .jobs
                .iter()
                .any(|j| j.model_name == model_name && j.status == "InProgress")
        {
            return Err(ApiError::conflict(format!(
                "An imported model named {model_name} already exists."
            )));
        }
        Ok(())
    }

    /// One running job per account, and the imported-models quota.
    fn check_quotas(&self) -> Result<(), ApiError> {
        if self.jobs.iter().any(|j| j.status == "InProgress") {
            return Err(ApiError::quota(
                "You have reached the maximum number of concurrent model import jobs for your account (1). Wait for the running job to finish and try again.",
            ));
        }
        if self.models.len() >= self.config.imported_models_quota {
            return Err(ApiError::quota(format!(
                "You have reached the maximum number of imported models for your account ({}). Delete a model or request a quota increase.",
                self.config.imported_models_quota
            )));
        }
        Ok(())
    }

    /// Records the job as running; its ARN.
    fn add_job(&mut self, request: JobRequest) -> String {
        let id = self.new_id();
        let arn = self.arn(&format!("model-import-job/{id}"));
        let now = SystemTime::now();
        self.jobs.push(Job {
            arn: arn.clone(),
            name: request.job_name.to_owned(),
            model_name: request.model_name.to_owned(),
            role_arn: request.role_arn.to_owned(),
            s3_uri: request.s3_uri.to_owned(),
            status: "InProgress",
            failure: None,
            created: now,
            modified: now,
            ended: None,
            model_arn: None,
            kms_key: request.kms_key,
            vpc: request.vpc,
            token: request.token.map(str::to_owned),
            job_tags: request.job_tags,
            model_tags: request.model_tags,
        });
        arn
    }
}

/// Waits out the job's duration, reads the artifacts as the role, records the end.
async fn run_job(state: Shared, job_arn: String, duration: Duration) {
    tokio::time::sleep(duration).await;
    let (source, region, role, uri, denied) = {
        let s = lock(&state);
        let Some(job) = s.jobs.iter().find(|j| j.arn == job_arn) else {
            return;
        };
        (
            s.config.artifacts.clone(),
            s.config.region.clone(),
            job.role_arn.clone(),
            job.s3_uri.clone(),
            s.deny_reads,
        )
    };
    let read = match &source {
        _ if denied => Err(artifacts::no_access_message(&uri)),
        Some(source) => artifacts::read(source, &region, &role, &uri).await,
        None => Ok(artifacts::Artifacts {
            architecture: "LlamaForCausalLM".into(),
            weight_bytes: 0,
        }),
    };
    let mut s = lock(&state);
    let model_id = s.new_id();
    let model_arn = s.arn(&format!("imported-model/{model_id}"));
    let now = SystemTime::now();
    let model_created = now - s.config.backdate;
    let Some(index) = s.jobs.iter().position(|j| j.arn == job_arn) else {
        return;
    };
    match read {
        Ok(found) => {
            let job = s.jobs[index].clone();
            // One custom model unit per started 16 GiB of weights.
            let units = found.weight_bytes.div_ceil(16 << 30).max(1);
            s.models.push(Model {
                arn: model_arn.clone(),
                name: job.model_name.clone(),
                job_name: job.name.clone(),
                job_arn: job.arn.clone(),
                s3_uri: job.s3_uri.clone(),
                created: model_created,
                architecture: found.architecture,
                kms_key: job.kms_key.clone(),
                units,
                tags: job.model_tags.clone(),
                invocations: 0,
            });
            let job = &mut s.jobs[index];
            job.status = "Completed";
            job.model_arn = Some(model_arn);
        }
        Err(message) => {
            let job = &mut s.jobs[index];
            job.status = "Failed";
            job.failure = Some(message);
        }
    }
    let job = &mut s.jobs[index];
    job.ended = Some(now);
    job.modified = now;
}

fn job_json(job: &Job) -> Value {
    let mut v = json!({
        "jobArn": job.arn,
        "jobName": job.name,
        "importedModelName": job.model_name,
        "roleArn": job.role_arn,
        "modelDataSource": {"s3DataSource": {"s3Uri": job.s3_uri}},
        "status": job.status,
        "creationTime": wire::timestamp(job.created),
        "lastModifiedTime": wire::timestamp(job.modified),
    });
    if let Some(arn) = &job.model_arn {
        v["importedModelArn"] = json!(arn);
    }
    if let Some(message) = &job.failure {
        v["failureMessage"] = json!(message);
    }
    if let Some(ended) = job.ended {
        v["endTime"] = json!(wire::timestamp(ended));
    }
    if let Some(vpc) = &job.vpc {
        v["vpcConfig"] = vpc.clone();
    }
    if let Some(key) = &job.kms_key {
        v["importedModelKmsKeyArn"] = json!(key);
    }
    v
}

fn get_job(state: &Shared, id: &str) -> Outcome {
    let s = lock(state);
    s.jobs
        .iter()
        .find(|j| j.arn == id || j.name == id)
        .map(|j| (200, job_json(j)))
        .ok_or_else(|| ApiError::not_found(format!("The model import job {id} was not found.")))
}

/// The page of `items` (already filtered) that `query` asks for.
fn page<T>(
    items: Vec<T>,
    query: &BTreeMap<String, String>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let max = match query.get("maxResults") {
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|m| (1..=1000).contains(m))
            .ok_or_else(|| ApiError::validation(format!("maxResults {m}: between 1 and 1000")))?,
        None => 1000,
    };
    let start = match query.get("nextToken") {
        Some(token) => token
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ApiError::validation(format!("Invalid nextToken {token}")))?,
        None => 0,
    };
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| format!("page-{end}"));
    Ok((
        items.into_iter().skip(start).take(end - start).collect(),
        next,
    ))
}

fn time_filter(query: &BTreeMap<String, String>, created: SystemTime) -> Result<bool, ApiError> {
    let parse = |field: &str| -> Result<Option<SystemTime>, ApiError> {
        query
            .get(field)
            .map(|t| {
                humantime::parse_rfc3339_weak(t)
                    .map_err(|_| ApiError::validation(format!("{field} {t}: not a date-time")))
            })
            .transpose()
    };
    let after = parse("creationTimeAfter")?;
    let before = parse("creationTimeBefore")?;
    Ok(after.is_none_or(|a| created > a) && before.is_none_or(|b| created < b))
}

fn sorted<T>(
    mut items: Vec<T>,
    query: &BTreeMap<String, String>,
    created: impl Fn(&T) -> SystemTime,
) -> Result<Vec<T>, ApiError> {
    if let Some(by) = query.get("sortBy") {
        if by != "CreationTime" {
            return Err(ApiError::validation(format!(
                "sortBy {by}: only CreationTime"
            )));
        }
    }
    items.sort_by_key(|item| created(item));
    match query.get("sortOrder").map(String::as_str) {
        None | Some("Descending") => items.reverse(),
        Some("Ascending") => {}
        Some(other) => {
            return Err(ApiError::validation(format!(
                "sortOrder {other}: Ascending or Descending"
            )))
        }
    }
    Ok(items)
}

fn list_jobs(state: &Shared, query: &BTreeMap<String, String>) -> Outcome {
    if let Some(status) = query.get("statusEquals") {
        if !["InProgress", "Completed", "Failed"].contains(&status.as_str()) {
            return Err(ApiError::validation(format!(
                "statusEquals {status}: InProgress, Completed or Failed"
            )));
        }
    }
    let s = lock(state);
    let mut matching = Vec::new();
    for job in &s.jobs {
        let status_ok = query.get("statusEquals").is_none_or(|st| st == job.status);
        let name_ok = query
            .get("nameContains")
            .is_none_or(|n| job.name.contains(n.as_str()));
        if status_ok && name_ok && time_filter(query, job.created)? {
            matching.push(job.clone());
        }
    }
    let (items, next) = page(sorted(matching, query, |j| j.created)?, query)?;
    let summaries: Vec<Value> = items
        .iter()
        .map(|job| {
            let full = job_json(job);
            let mut summary = json!({});
            for field in [
                "jobArn",
                "jobName",
                "status",
                "lastModifiedTime",
                "creationTime",
                "endTime",
                "importedModelArn",
                "importedModelName",
            ] {
                if let Some(v) = full.get(field) {
                    summary[field] = v.clone();
                }
            }
            summary
        })
        .collect();
    let mut body = json!({"modelImportJobSummaries": summaries});
    if let Some(next) = next {
        body["nextToken"] = json!(next);
    }
    Ok((200, body))
}

fn model_json(model: &Model) -> Value {
    let mut v = json!({
        "modelArn": model.arn,
        "modelName": model.name,
        "jobName": model.job_name,
        "jobArn": model.job_arn,
        "modelDataSource": {"s3DataSource": {"s3Uri": model.s3_uri}},
        "creationTime": wire::timestamp(model.created),
        "modelArchitecture": model.architecture,
        "instructSupported": true,
        "customModelUnits": {"customModelUnitsPerModelCopy": model.units, "customModelUnitsVersion": "1.0"},
    });
    if let Some(key) = &model.kms_key {
        v["modelKmsKeyArn"] = json!(key);
    }
    v
}

/// bedrock-runtime InvokeModel (`POST /model/{modelId}/invoke`) for an imported model,
/// by ARN or name: not ready for its first `not_ready_calls` calls, a broken model's
/// error, or the answer in the documented shape of the request's format.
fn invoke(state: &Shared, id: &str, body: &[u8]) -> Result<Value, (ApiError, Value)> {
    let plain = |error: ApiError| {
        let body = error.body();
        (error, body)
    };
    let mut s = lock(state);
    let not_ready_calls = s.config.not_ready_calls;
    let State { models, broken, .. } = &mut *s;
    let model = models
        .iter_mut()
        .find(|m| m.arn == id || m.name == id)
        .ok_or_else(|| plain(ApiError::not_found(format!("Model {id} not found."))))?;
    model.invocations += 1;
    if model.invocations <= not_ready_calls {
        return Err(plain(runtime::not_ready()));
    }
    if broken.as_ref().is_some_and(|b| b.is_match(&model.name)) {
        return Err(runtime::broken(&model.arn));
    }
    let request: Value =
        serde_json::from_slice(body).map_err(|e| plain(runtime::malformed(&e.to_string())))?;
    runtime::answer(&request, &model.architecture, &model.arn, model.invocations).map_err(plain)
}

fn get_model(state: &Shared, id: &str) -> Outcome {
    let s = lock(state);
    s.models
        .iter()
        .find(|m| m.arn == id || m.name == id)
        .map(|m| (200, model_json(m)))
        .ok_or_else(|| ApiError::not_found(format!("The imported model {id} was not found.")))
}

fn list_models(state: &Shared, query: &BTreeMap<String, String>) -> Outcome {
    let s = lock(state);
    let mut matching = Vec::new();
    for model in &s.models {
        let name_ok = query
            .get("nameContains")
            .is_none_or(|n| model.name.contains(n.as_str()));
        if name_ok && time_filter(query, model.created)? {
            matching.push(model.clone());
        }
    }
    let (items, next) = page(sorted(matching, query, |m| m.created)?, query)?;
    let summaries: Vec<Value> = items
        .iter()
        .map(|m| {
            json!({
                "modelArn": m.arn,
                "modelName": m.name,
                "creationTime": wire::timestamp(m.created),
                "instructSupported": true,
                "modelArchitecture": m.architecture,
            })
        })
        .collect();
    let mut body = json!({"modelSummaries": summaries});
    if let Some(next) = next {
        body["nextToken"] = json!(next);
    }
    Ok((200, body))
}

fn delete_model(state: &Shared, id: &str) -> Outcome {
    let mut s = lock(state);
    let index = s
        .models
        .iter()
        .position(|m| m.arn == id || m.name == id)
        .ok_or_else(|| ApiError::not_found(format!("The imported model {id} was not found.")))?;
    s.models.remove(index);
    Ok((200, json!({})))
}

fn tags_of<'a>(s: &'a mut State, arn: &str) -> Result<&'a mut Vec<(String, String)>, ApiError> {
    if let Some(model) = s.models.iter_mut().find(|m| m.arn == arn) {
        return Ok(&mut model.tags);
    }
    if let Some(job) = s.jobs.iter_mut().find(|j| j.arn == arn) {
        return Ok(&mut job.job_tags);
    }
    Err(ApiError::not_found(format!(
        "The resource {arn} was not found."
    )))
}

fn list_tags(state: &Shared, input: &Value) -> Outcome {
    let arn = required(input, "resourceARN")?;
    let mut s = lock(state);
    let tags = tags_of(&mut s, arn)?;
    Ok((200, json!({"tags": wire::tags_json(tags)})))
}

fn tag_resource(state: &Shared, input: &Value) -> Outcome {
    let arn = required(input, "resourceARN")?;
    let new = wire::tags_from(input, "tags")?;
    wire::check_tags("tags", &new)?;
    let mut s = lock(state);
    let tags = tags_of(&mut s, arn)?;
    for (key, value) in new {
        tags.retain(|(k, _)| *k != key);
        tags.push((key, value));
    }
    Ok((200, json!({})))
}
