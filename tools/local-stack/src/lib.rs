//! Ferry's two accounts on one machine. moto on loopback plays both accounts (its
//! default account is the research account, an assumed role gives the hosting one);
//! both SAM stacks from `infra/` are created in its CloudFormation, so local equals
//! production; what a research team does by hand (bucket policy, key statement) comes
//! from `ferry_core::policies`, as `ferry policies` prints it. The Bedrock emulator
//! serves the hosting account's imports and reads the artifacts from moto as the
//! passed role. Alerts are read back through an SQS subscription, Ferry's state-change
//! events through a rule on the hosting account's default bus with an SQS target.
//! With `Options::stages`, three hosting accounts (dev, staging, prod) instead of one:
//! see [`stages`].

mod after_import;
mod grants;
pub mod recipe;
pub mod stages;

pub use stages::{started_stages, StageAccount, PROD, STAGES, STAGING};

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use aws_smithy_types::error::display::DisplayErrorContext;
use ferry_bedrock_emulator::{ArtifactSource, Config as EmulatorConfig, Emulator};
use ferry_core::policies::{bucket_policy, key_policy, research_key_statement, Deployment};
use ferry_local_lambda::{workspace_binary, LocalLambda};
use ferry_testkit::hosting::assumed;
use ferry_testkit::moto::{workspace_root, MotoServer};
use serde_json::Value;

/// moto's default account plays the research account.
pub const RESEARCH: &str = "123456789012";
pub const HOSTING: &str = "777788889999";
pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "model-artifacts-123456789012";
pub const PREFIX: &str = "models/";
/// The research stack's event source mapping hands the importer at most this many
/// messages at once (`BatchSize` in infra/research.yaml).
pub const UPLOAD_BATCH_SIZE: usize = 10;
pub const EXTERNAL_ID: &str = "ferry-local-external-id";
/// The rule and queue that receive Ferry's state-change events in the hosting account.
pub const EVENTS_INBOX: &str = "ferry-state-changes-inbox";

/// Resource types moto's CloudFormation (5.2) does not create.
pub const NOT_IN_MOTO: [&str; 4] = [
    "AWS::Serverless::Function",
    "AWS::CloudWatch::Alarm",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
];

/// A created stack: logical id -> physical id, for what moto created.
#[derive(Debug, Clone)]
pub struct Stack {
    pub created: BTreeMap<String, String>,
}

/// Creates `infra/TEMPLATE` as a stack with `config`'s credentials (of `account`).
pub async fn create_stack(
    config: &SdkConfig,
    account: &str,
    name: &str,
    template: &str,
    params: &[(&str, &str)],
) -> Result<Stack> {
    let path = workspace_root().join("infra").join(template);
    let mut body = ferry_testkit::cfn::load(&path)?;
    let rendered = ferry_testkit::cfn::Rendered::new(body.clone(), params, REGION, account)?;
    ferry_testkit::cfn::resolve_optional_list_items(&mut body, &rendered);
    let cfn = aws_sdk_cloudformation::Client::new(config);
    cfn.create_stack()
        .stack_name(name)
        .template_body(body.to_string())
        .set_parameters(Some(
            params
                .iter()
                .map(|(k, v)| {
                    Parameter::builder()
                        .parameter_key(*k)
                        .parameter_value(*v)
                        .build()
                })
                .collect(),
        ))
        .capabilities(Capability::CapabilityNamedIam)
        .capabilities(Capability::CapabilityAutoExpand)
        .send()
        .await
        .map_err(|e| anyhow!("creating stack {name}: {}", DisplayErrorContext(&e)))?;
    let stack = cfn.describe_stacks().stack_name(name).send().await?;
    let status = stack
        .stacks()
        .first()
        .and_then(|s| s.stack_status().cloned());
    if status != Some(StackStatus::CreateComplete) {
        bail!("stack {name}: {status:?}");
    }
    let resources = cfn
        .describe_stack_resources()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| anyhow!("resources of stack {name}: {}", DisplayErrorContext(&e)))?;
    let created = resources
        .stack_resources()
        .iter()
        .filter_map(|r| {
            Some((
                r.logical_resource_id()?.to_owned(),
                r.physical_resource_id()?.to_owned(),
            ))
        })
        .collect();
    Ok(Stack { created })
}

/// moto keeps a CloudFormation `KeyPolicy` as an object and returns it unencoded from
/// GetKeyPolicy (AWS returns a string), which the SDK cannot parse; read it raw.
pub async fn key_policy_as_moto_keeps_it(
    moto: &MotoServer,
    config: &SdkConfig,
    key: &str,
) -> Result<Value> {
    use aws_sdk_kms::config::ProvideCredentials;
    use std::io::{Read, Write};
    let provider = config
        .credentials_provider()
        .context("no credentials provider")?;
    let access_key = provider
        .provide_credentials()
        .await?
        .access_key_id()
        .to_owned();
    let body = serde_json::json!({"KeyId": key, "PolicyName": "default"}).to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: TrentService.GetKeyPolicy\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={access_key}/20260101/{REGION}/kms/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(moto.endpoint().trim_start_matches("http://"))?;
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (_, payload) = response
        .split_once("\r\n\r\n")
        .context("not an HTTP response")?;
    let document: Value = serde_json::from_str(payload)?;
    Ok(match document["Policy"].clone() {
        Value::String(text) => serde_json::from_str(&text)?,
        object => object,
    })
}

/// Options of the local stack.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long an emulated import job runs.
    pub job_duration: Duration,
    /// Leave the execution role out of the research key's policy (seed step 3 skipped).
    pub break_research_key: bool,
    /// Bedrock reports its times this much in the past (cleanup's age rules).
    pub backdate: Duration,
    /// The research bucket and the watched folder in it.
    pub bucket: String,
    pub prefix: String,
    /// moto's port on 127.0.0.1 (`None`: a free one).
    pub moto_port: Option<u16>,
    /// The Bedrock emulator's port on 127.0.0.1 (0: a free one).
    pub emulator_port: u16,
    /// InvokeModel answers ModelNotReadyException to each model's first this many
    /// attempts (the emulator's `not_ready_calls`).
    pub not_ready_calls: u64,
    /// Imported models whose name matches this regular expression fail every
    /// InvokeModel with ModelErrorException (the emulator's `broken_models`).
    pub broken_models: Option<String>,
    /// The account's imported-models quota the emulator enforces (AWS's default, 3).
    pub models_quota: usize,
    /// Three hosting accounts, dev, staging and prod ([`STAGES`]), instead of one.
    pub stages: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            job_duration: Duration::from_secs(1),
            break_research_key: false,
            backdate: Duration::ZERO,
            bucket: BUCKET.to_owned(),
            prefix: PREFIX.to_owned(),
            moto_port: None,
            emulator_port: 0,
            not_ready_calls: 0,
            broken_models: None,
            models_quota: 3,
            stages: false,
        }
    }
}

/// The queue subscribed (raw) to the first hosting account's alert topic.
const ALERTS_INBOX: &str = "ferry-alerts-inbox";

fn start_moto(options: &Options) -> Result<MotoServer> {
    match options.moto_port {
        Some(port) => MotoServer::start_on(port),
        None => MotoServer::start(),
    }
}

/// Both accounts, created and wired.
pub struct LocalStack {
    pub moto: MotoServer,
    pub emulator: Emulator,
    /// The research account (moto's default credentials).
    pub research: SdkConfig,
    /// A deployer in the hosting account.
    pub hosting: SdkConfig,
    pub deployment: Deployment,
    /// An SQS queue subscribed to the alert topic.
    pub alert_queue_url: String,
    /// The SQS queue a rule on the hosting account's default bus sends Ferry's
    /// state-change events to (as an application team would subscribe).
    pub events_queue_url: String,
    pub hosting_stack: Stack,
    pub research_stack: Stack,
    /// With `Options::stages`: dev (the account above), staging and prod, in order.
    pub stages: Vec<StageAccount>,
}

/// The Bedrock emulator for the hosting account (and `others`), reading the artifacts
/// from moto.
async fn start_emulator(moto: &MotoServer, options: &Options, others: &[&str]) -> Result<Emulator> {
    Emulator::start(
        EmulatorConfig {
            account: HOSTING.into(),
            other_accounts: others.iter().map(|a| (*a).to_owned()).collect(),
            region: REGION.into(),
            job_duration: options.job_duration,
            backdate: options.backdate,
            artifacts: Some(ArtifactSource {
                endpoint: moto.endpoint(),
            }),
            not_ready_calls: options.not_ready_calls,
            broken_models: options.broken_models.clone(),
            imported_models_quota: options.models_quota,
            ..EmulatorConfig::default()
        },
        options.emulator_port,
    )
    .await
}

/// The research team's own KMS key for the artifacts; its ARN.
async fn create_research_key(kms: &aws_sdk_kms::Client) -> Result<String> {
    kms.create_key()
        .send()
        .await
        .context("creating the research key")?
        .key_metadata()
        .and_then(|m| m.arn().map(str::to_owned))
        .context("no key ARN")
}

/// The hosting stack in `account`; `forward`: ForwardPromotions=true (stages).
async fn create_hosting_stack(
    hosting: &SdkConfig,
    account: &str,
    (bucket, prefix): (&str, &str),
    research_key: &str,
    forward: bool,
) -> Result<Stack> {
    let mut params = vec![
        ("ResearchAccountId", RESEARCH),
        ("ResearchBucketName", bucket),
        ("ResearchPrefix", prefix),
        ("ResearchKmsKeyArn", research_key),
        ("CreateImportedModelKey", "true"),
        ("ExternalId", EXTERNAL_ID),
    ];
    if forward {
        params.push(("ForwardPromotions", "true"));
    }
    create_stack(hosting, account, "ferry-hosting", "hosting.yaml", &params).await
}

/// The ARN of the imported-model key the hosting stack of `account` created.
fn imported_model_key(hosting_stack: &Stack, account: &str) -> Result<String> {
    Ok(format!(
        "arn:aws:kms:{REGION}:{account}:key/{}",
        hosting_stack
            .created
            .get("ImportedModelKey")
            .context("the hosting stack created no ImportedModelKey")?
    ))
}

/// The research stack for the hosting account(s) `hosting` (comma-separated, in stage
/// order) and their imported-model keys; `stages`: its `Stages` parameter.
async fn create_research_stack(
    research: &SdkConfig,
    (hosting, stages): (&str, Option<&str>),
    (bucket, prefix): (&str, &str),
    research_key: &str,
    imported_keys: &str,
) -> Result<Stack> {
    let mut params = vec![
        ("HostingAccountId", hosting),
        ("BucketName", bucket),
        ("Prefix", prefix),
        ("ResearchKmsKeyArn", research_key),
        ("ImportedModelKeyArn", imported_keys),
        ("ExternalId", EXTERNAL_ID),
    ];
    if let Some(stages) = stages {
        params.push(("Stages", stages));
    }
    create_stack(
        research,
        RESEARCH,
        "ferry-research",
        "research.yaml",
        &params,
    )
    .await
}

/// The deployment both stacks were created for.
fn local_deployment(
    bucket: &str,
    prefix: &str,
    research_key: &str,
    imported_key: &str,
) -> Result<Deployment> {
    let mut d = Deployment::new(RESEARCH, HOSTING, REGION, bucket, prefix);
    d.research_kms_key = Some(research_key.to_owned());
    d.imported_model_kms_key = Some(imported_key.to_owned());
    d.external_id = Some(EXTERNAL_ID.into());
    d.validated().map_err(|e| anyhow!("{e}"))
}

/// moto keeps the template's key policy as an object; store it as AWS would.
async fn store_key_policy_as_aws_would(
    moto: &MotoServer,
    hosting: &SdkConfig,
    imported_key: &str,
) -> Result<()> {
    let created_policy = key_policy_as_moto_keeps_it(moto, hosting, imported_key).await?;
    aws_sdk_kms::Client::new(hosting)
        .put_key_policy()
        .key_id(imported_key)
        .policy_name("default")
        .policy(created_policy.to_string())
        .send()
        .await
        .context("storing the imported-model key policy")?;
    Ok(())
}

/// What the research team merges by hand, as `ferry policies` prints it: the bucket
/// policy and the research key's policy (without the execution role's statement when
/// `break_research_key`).
async fn put_research_team_policies(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    kms: &aws_sdk_kms::Client,
    research_key: &str,
    deployment: &Deployment,
    break_research_key: bool,
) -> Result<()> {
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(bucket_policy(deployment).to_string())
        .send()
        .await
        .context("putting the bucket policy")?;
    let statement = research_key_statement(deployment).filter(|_| !break_research_key);
    kms.put_key_policy()
        .key_id(research_key)
        .policy_name("default")
        .policy(key_policy(deployment, RESEARCH, statement).to_string())
        .send()
        .await
        .context("putting the research key policy")?;
    Ok(())
}

/// S3 -> EventBridge, as infra/README.md asks of the bucket's owner; moto then runs the
/// research stack's rule, which sends the events to its SQS queue.
async fn send_bucket_events_to_eventbridge(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .event_bridge_configuration(
                    aws_sdk_s3::types::EventBridgeConfiguration::builder().build(),
                )
                .build(),
        )
        .send()
        .await
        .context("turning on the bucket's EventBridge notifications")?;
    Ok(())
}

/// Alerts, readable back: an SQS queue subscribed to the alert topic of `deployment`'s
/// (first) hosting account; its URL. `raw`: the messages alone, else SNS's envelope
/// (with the subject).
async fn subscribe_alert_inbox(
    hosting: &SdkConfig,
    deployment: &Deployment,
    name: &str,
    raw: bool,
) -> Result<String> {
    let sqs = aws_sdk_sqs::Client::new(hosting);
    let queue = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .context("creating the alert inbox")?;
    let alert_queue_url = queue.queue_url().context("no queue URL")?.to_owned();
    let queue_arn = format!("arn:aws:sqs:{REGION}:{}:{name}", deployment.hosting_account);
    aws_sdk_sns::Client::new(hosting)
        .subscribe()
        .topic_arn(deployment.alert_topic_arn())
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", raw.to_string())
        .send()
        .await
        .context("subscribing the inbox to the alerts")?;
    Ok(alert_queue_url)
}

impl LocalStack {
    /// Starts moto and the emulator, creates both accounts' stacks and does by hand
    /// what the research team and the deployer do outside the templates.
    pub async fn start(options: Options) -> Result<LocalStack> {
        if options.stages {
            return stages::start(options).await;
        }
        let moto = start_moto(&options)?;
        let (bucket, prefix) = (options.bucket.as_str(), options.prefix.as_str());
        let research = moto.sdk_config().await;
        let hosting = assumed(&research, &format!("arn:aws:iam::{HOSTING}:role/Deployer")).await?;
        let emulator = start_emulator(&moto, &options, &[]).await?;

        // The research team's bucket and key exist before Ferry.
        let s3 = ferry_testkit::s3::s3_client(&research);
        ferry_testkit::s3::create_bucket(&s3, bucket).await?;
        let kms = aws_sdk_kms::Client::new(&research);
        let research_key = create_research_key(&kms).await?;

        let hosting_stack =
            create_hosting_stack(&hosting, HOSTING, (bucket, prefix), &research_key, false).await?;
        let imported_key = imported_model_key(&hosting_stack, HOSTING)?;
        let research_stack = create_research_stack(
            &research,
            (HOSTING, None),
            (bucket, prefix),
            &research_key,
            &imported_key,
        )
        .await?;
        let deployment = local_deployment(bucket, prefix, &research_key, &imported_key)?;

        store_key_policy_as_aws_would(&moto, &hosting, &imported_key).await?;
        put_research_team_policies(
            &s3,
            bucket,
            &kms,
            &research_key,
            &deployment,
            options.break_research_key,
        )
        .await?;
        send_bucket_events_to_eventbridge(&s3, bucket).await?;
        let alert_queue_url =
            subscribe_alert_inbox(&hosting, &deployment, ALERTS_INBOX, true).await?;
        let events_queue_url = ferry_testkit::events::subscribe(&hosting, EVENTS_INBOX).await?;

        Ok(LocalStack {
            moto,
            emulator,
            research,
            hosting,
            deployment,
            alert_queue_url,
            events_queue_url,
            hosting_stack,
            research_stack,
            stages: Vec::new(),
        })
    }

    /// Puts the research key's policy with (or, to show a broken chain, without) the
    /// statement for the execution role.
    pub async fn set_research_key_statement(&self, present: bool) -> Result<()> {
        let d = &self.deployment;
        let key = d.research_kms_key.as_deref().context("no research key")?;
        let statement = research_key_statement(d).filter(|_| present);
        aws_sdk_kms::Client::new(&self.research)
            .put_key_policy()
            .key_id(key)
            .policy_name("default")
            .policy(key_policy(d, RESEARCH, statement).to_string())
            .send()
            .await
            .context("putting the research key policy")?;
        Ok(())
    }

    /// The importer's environment: research credentials, the hosting stack's names.
    pub fn importer_env(&self) -> Vec<(String, String)> {
        let mut env = self.aws_env("testing", "testing", None);
        env.extend(owned(importer_settings(&self.deployment)));
        env.push(self.imported_model_key());
        if !self.stages.is_empty() {
            env.push(("FERRY_STAGES".into(), STAGES.into()));
        }
        env
    }

    /// The tracker's environment: the tracker role's credentials in the hosting account.
    pub async fn tracker_env(&self) -> Result<Vec<(String, String)>> {
        self.tracker_env_of(&self.deployment).await
    }

    /// The tracker's environment in the (first) hosting account of `d`.
    async fn tracker_env_of(&self, d: &Deployment) -> Result<Vec<(String, String)>> {
        let assumed = aws_sdk_sts::Client::new(&self.research)
            .assume_role()
            .role_arn(d.tracker_role_arn())
            .role_session_name("ferry-tracker")
            .send()
            .await
            .context("assuming the tracker role")?;
        let creds = assumed.credentials().context("no credentials")?;
        let mut env = self.aws_env(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token()),
        );
        env.extend(owned(tracker_settings(d)));
        env.push((
            "FERRY_IMPORTED_MODEL_KMS_KEY_ARN".to_owned(),
            d.imported_model_kms_key.clone().unwrap_or_default(),
        ));
        Ok(env)
    }

    /// One key per stage, in stage order (one without stages).
    fn imported_model_key(&self) -> (String, String) {
        (
            "FERRY_IMPORTED_MODEL_KMS_KEY_ARN".to_owned(),
            each_stage(&self.deployment, |d| {
                d.imported_model_kms_key.clone().unwrap_or_default()
            }),
        )
    }

    fn aws_env(&self, key: &str, secret: &str, token: Option<&str>) -> Vec<(String, String)> {
        let mut env = owned(endpoint_env(
            &self.moto.endpoint(),
            self.emulator.endpoint(),
        ));
        env.extend(owned(vec![
            ("AWS_ACCESS_KEY_ID", key.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", secret.to_owned()),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ]));
        if let Some(token) = token {
            env.push(("AWS_SESSION_TOKEN".into(), token.to_owned()));
        }
        env
    }

    /// Alert messages delivered since the last call (subject-less raw SNS messages).
    pub async fn alerts(&self) -> Result<Vec<String>> {
        ferry_testkit::events::drain_bodies(&self.hosting, &self.alert_queue_url).await
    }
}

impl LocalStack {
    /// Ferry's state-change events delivered since the last call, as EventBridge
    /// delivers them (`source`, `detail-type`, `time`, `resources`, `detail`), in the
    /// order they arrived.
    pub async fn state_events(&self) -> Result<Vec<Value>> {
        ferry_testkit::events::drain(&self.hosting, &self.events_queue_url).await
    }
}

/// A batch taken from the upload queue: the Lambda SQS event and the receipt handles
/// by message id.
pub struct UploadBatch {
    pub event: Value,
    pub receipts: BTreeMap<String, String>,
}

impl LocalStack {
    /// The research stack's upload queue (fed by its EventBridge rule).
    pub fn upload_queue_url(&self) -> Result<&str> {
        self.research_stack
            .created
            .get("UploadQueue")
            .map(String::as_str)
            .context("the research stack created no UploadQueue")
    }

    /// Up to [`UPLOAD_BATCH_SIZE`] messages from the upload queue as Lambda's SQS event source delivers
    /// them; `None` when the queue stays empty for `wait`.
    pub async fn next_upload_batch(&self, wait: Duration) -> Result<Option<UploadBatch>> {
        let sqs = aws_sdk_sqs::Client::new(&self.research);
        let url = self.upload_queue_url()?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            let received = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(UPLOAD_BATCH_SIZE as i32)
                .visibility_timeout(30)
                .send()
                .await
                .context("receiving upload events")?;
            let messages = received.messages();
            if !messages.is_empty() {
                let mut receipts = BTreeMap::new();
                let records: Vec<Value> = messages
                    .iter()
                    .map(|m| {
                        let id = m.message_id().unwrap_or_default().to_owned();
                        receipts.insert(id.clone(), m.receipt_handle().unwrap_or_default().to_owned());
                        serde_json::json!({
                            "messageId": id,
                            "receiptHandle": m.receipt_handle().unwrap_or_default(),
                            "body": m.body().unwrap_or_default(),
                            "attributes": {"ApproximateReceiveCount": "1"},
                            "messageAttributes": {},
                            "md5OfBody": m.md5_of_body().unwrap_or_default(),
                            "eventSource": "aws:sqs",
                            "eventSourceARN": format!("arn:aws:sqs:{REGION}:{RESEARCH}:ferry-uploads"),
                            "awsRegion": REGION
                        })
                    })
                    .collect();
                return Ok(Some(UploadBatch {
                    event: serde_json::json!({"Records": records}),
                    receipts,
                }));
            }
            if std::time::Instant::now() > deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Deletes the messages the importer took (all but its `batchItemFailures`), as
    /// the event source mapping does; the failed ones come back later.
    pub async fn acknowledge(&self, batch: &UploadBatch, response: &Value) -> Result<usize> {
        let answer: ferry_core::import::ImportAnswer =
            serde_json::from_value(response.clone()).context("reading the importer's answer")?;
        let failed: Vec<&str> = answer.failed_messages().collect();
        let sqs = aws_sdk_sqs::Client::new(&self.research);
        let url = self.upload_queue_url()?;
        let mut deleted = 0;
        for (id, handle) in &batch.receipts {
            if failed.contains(&id.as_str()) {
                continue;
            }
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(handle)
                .send()
                .await
                .context("deleting a handled upload event")?;
            deleted += 1;
        }
        Ok(deleted)
    }
}

/// An uploaded object: key and size.
pub type Uploaded = (String, i64);

impl LocalStack {
    /// Uploads a model folder to `s3://{bucket}/{prefix}{name}/`, SSE-KMS with the research
    /// key, as a research team's training job would.
    /// Writes a model of `family` (`llama-3.1`) with `shards` weight files, whose content
    /// differs by count, and uploads it into folder `name`.
    pub async fn upload_fixture(
        &self,
        name: &str,
        family: &str,
        shards: usize,
    ) -> Result<Vec<Uploaded>> {
        let dir = tempfile::tempdir().context("a folder for the model")?;
        let family = ferry_testkit::families::family(family);
        ferry_testkit::fixtures::write_model(dir.path(), &family, shards)?;
        self.upload_model(name, dir.path()).await
    }

    pub async fn upload_model(&self, name: &str, dir: &std::path::Path) -> Result<Vec<Uploaded>> {
        let s3 = ferry_testkit::s3::s3_client(&self.research);
        let bucket = self.deployment.bucket.as_str();
        let folder = format!("{}{name}/", self.deployment.prefix);
        ferry_testkit::s3::upload_dir_encrypted(
            &s3,
            bucket,
            &folder,
            dir,
            self.deployment.research_kms_key.as_deref(),
        )
        .await?;
        let listed = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&folder)
            .send()
            .await
            .context("listing the upload")?;
        Ok(listed
            .contents()
            .iter()
            .map(|o| {
                (
                    o.key().unwrap_or_default().to_owned(),
                    o.size().unwrap_or(0),
                )
            })
            .collect())
    }

    /// The importer's event for `objects` as the research stack delivers it: one SQS
    /// batch whose messages are EventBridge "Object Created" events.
    pub fn upload_events(&self, objects: &[Uploaded]) -> Value {
        let bucket = self.deployment.bucket.as_str();
        let records: Vec<Value> = objects
            .iter()
            .enumerate()
            .map(|(n, (key, size))| {
                let event = serde_json::json!({
                    "version": "0",
                    "id": format!("00000000-0000-4000-8000-{n:012}"),
                    "detail-type": "Object Created",
                    "source": "aws.s3",
                    "account": RESEARCH,
                    "time": "2026-11-22T10:00:00Z",
                    "region": REGION,
                    "resources": [format!("arn:aws:s3:::{bucket}")],
                    "detail": {
                        "version": "0",
                        "bucket": {"name": bucket},
                        "object": {"key": key, "size": size, "sequencer": format!("{n:016X}")},
                        "reason": "PutObject"
                    }
                });
                serde_json::json!({
                    "messageId": format!("msg-{n}"),
                    "receiptHandle": format!("handle-{n}"),
                    "body": event.to_string(),
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": format!("arn:aws:sqs:{REGION}:{RESEARCH}:ferry-uploads"),
                    "awsRegion": REGION
                })
            })
            .collect();
        serde_json::json!({"Records": records})
    }
}

impl LocalStack {
    /// The real `ferry-importer` binary under a local Runtime API, with the importer's
    /// environment plus `extra`, initialized and waiting for events.
    pub async fn start_importer(&self, extra: &[(&str, &str)]) -> Result<LocalLambda> {
        start_function("ferry-importer", self.importer_env(), extra).await
    }

    /// The real `ferry-tracker` binary, as [`LocalStack::start_importer`].
    pub async fn start_tracker(&self, extra: &[(&str, &str)]) -> Result<LocalLambda> {
        start_function("ferry-tracker", self.tracker_env().await?, extra).await
    }
}

/// Where both functions' AWS calls go: moto for every service, the emulator for
/// Bedrock and CloudWatch.
pub fn endpoint_env(moto: &str, emulator: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ENDPOINT_URL", moto.to_owned()),
        ("AWS_ENDPOINT_URL_BEDROCK", emulator.to_owned()),
        // InvokeModel of the imported models (the smoke test).
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", emulator.to_owned()),
        // moto 5.2 lacks CloudWatch's rpcv2Cbor protocol; the emulator answers
        // GetMetricStatistics (no invocations).
        ("AWS_ENDPOINT_URL_CLOUDWATCH", emulator.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}

/// The importer's `FERRY_*` settings for deployment `d`, as the research stack sets them
/// (the per-account ones one per stage, comma-separated, when it has stages).
pub fn importer_settings(d: &Deployment) -> Vec<(&'static str, String)> {
    vec![
        ("FERRY_WATCH_PREFIXES", d.source_uri()),
        (
            "FERRY_HOSTING_ROLE_ARN",
            each_stage(d, Deployment::automation_role_arn),
        ),
        ("FERRY_EXTERNAL_ID", EXTERNAL_ID.to_owned()),
        (
            "FERRY_EXECUTION_ROLE_ARN",
            each_stage(d, Deployment::execution_role_arn),
        ),
        ("FERRY_LEDGER_TABLE", d.names.ledger_table.clone()),
        (
            "FERRY_ALERT_TOPIC_ARN",
            each_stage(d, Deployment::alert_topic_arn),
        ),
    ]
}

/// `value` of each stage's view of `d`, comma-separated in stage order.
fn each_stage(d: &Deployment, value: impl Fn(&Deployment) -> String) -> String {
    d.per_stage()
        .iter()
        .map(value)
        .collect::<Vec<_>>()
        .join(",")
}

/// The tracker's `FERRY_*` settings for deployment `d`, as the hosting stack sets them.
pub fn tracker_settings(d: &Deployment) -> Vec<(&'static str, String)> {
    vec![
        ("FERRY_LEDGER_TABLE", d.names.ledger_table.clone()),
        ("FERRY_ALERT_TOPIC_ARN", d.alert_topic_arn()),
        ("FERRY_EXECUTION_ROLE_ARN", d.execution_role_arn()),
        ("FERRY_RESEARCH_ACCOUNT_ID", d.research_account.clone()),
        (
            "FERRY_RELEASE_PARAMETER_PREFIX",
            d.release_parameter_prefix.clone(),
        ),
    ]
}

fn owned(env: Vec<(&'static str, String)>) -> Vec<(String, String)> {
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

async fn start_function(
    name: &str,
    mut env: Vec<(String, String)>,
    extra: &[(&str, &str)],
) -> Result<LocalLambda> {
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let mut function = LocalLambda::start(name).await?;
    function.spawn(&workspace_binary(name)?, &env)?;
    function.wait_ready(Duration::from_secs(30)).await?;
    Ok(function)
}
