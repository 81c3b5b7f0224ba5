//! Stages on one machine (`Options::stages`): the research account and three hosting
//! accounts, dev, staging and prod, as [`STAGES`] orders them. Each hosting account has
//! its hosting stack (ForwardPromotions=true) and runs its own tracker; the research
//! stack names the three accounts and `Stages`. The Bedrock emulator serves the three
//! accounts at one endpoint, each with its own import slot, quota and models, telling
//! them apart by the credentials of each request.
//!
//! Promotion events cross accounts, which moto does not do as AWS does: it delivers a
//! rule's event-bus target in another account, but re-stamps the event with the target
//! bus's account (and drops `resources`), so the research stack's PromotionRule, which
//! matches the stage accounts, never fires; and its SQS targets get the event without
//! its `account`. [`LocalStack::relay_promotions`] stands in
//! for AWS's delivery, outside Ferry's code: a queue in each hosting account receives
//! what the forward rule's pattern (read from moto) matches, and the relay hands each
//! event, with `account` the stage's as AWS keeps it, to the research PromotionRule's
//! target if its pattern (read from moto too) matches.

use anyhow::{bail, Context, Result};
use aws_config::SdkConfig;
use ferry_core::import::{ImportState, LedgerItem};
use ferry_core::policies::{bucket_policy, Deployment, Stage};
use ferry_local_lambda::LocalLambda;
use ferry_testkit::hosting::assumed;
use serde_json::Value;

use crate::after_import::{ledger_versions, sweep_until_in};
use crate::{
    create_hosting_stack, create_research_key, create_research_stack, imported_model_key,
    put_research_team_policies, send_bucket_events_to_eventbridge, start_emulator, start_moto,
    store_key_policy_as_aws_would, subscribe_alert_inbox, LocalStack, Options, Stack, ALERTS_INBOX,
    EVENTS_INBOX, EXTERNAL_ID, HOSTING, REGION, RESEARCH,
};

/// The staging and prod accounts (dev is [`HOSTING`]).
pub const STAGING: &str = "555566667777";
pub const PROD: &str = "888877776666";
/// The importer's `FERRY_STAGES`: dev on upload, staging once dev verified, prod by hand.
pub const STAGES: &str = "dev,staging=after:dev,prod=manual";
const ACCOUNTS: [(&str, &str); 3] = [("dev", HOSTING), ("staging", STAGING), ("prod", PROD)];

/// The hosting stack's forwarding rule and the research stack's promotion rule.
const FORWARD_RULE: &str = "ferry-promotion-forward";
const PROMOTION_RULE: &str = "ferry-stage-promotions";
/// The queue (and rule) in each hosting account that catches what the forward rule sends.
const RELAY_INBOX: &str = "ferry-promotion-relay";
/// The queue subscribed to each stage's alert topic, with SNS's envelope (the subject).
const STAGE_ALERTS_INBOX: &str = "ferry-stage-alerts-inbox";

/// One stage's hosting account.
pub struct StageAccount {
    pub name: String,
    pub account: String,
    /// A deployer in the account.
    pub hosting: SdkConfig,
    /// The deployment as this account sees it (`Deployment::per_stage`).
    pub deployment: Deployment,
    pub stack: Stack,
    /// SQS queue subscribed to the stage's alert topic (SNS envelopes).
    pub alert_queue_url: String,
    /// SQS queue a rule on the account's default bus sends Ferry's events to.
    pub events_queue_url: String,
    relay_queue_url: String,
}

/// A stage's alert: SNS's subject and message.
#[derive(Debug, Clone)]
pub struct Alert {
    pub subject: String,
    pub message: String,
}

/// What each hosting account got before the research stack: deployer, stack, key.
struct Hosting {
    hosting: SdkConfig,
    stack: Stack,
    key: String,
}

/// Starts moto and the emulator, creates the three hosting stacks and the research
/// stack, and does what the research team and the deployers do by hand.
pub(crate) async fn start(options: Options) -> Result<LocalStack> {
    let moto = start_moto(&options)?;
    let (bucket, prefix) = (options.bucket.as_str(), options.prefix.as_str());
    let research = moto.sdk_config().await;
    let emulator = start_emulator(&moto, &options, &[STAGING, PROD]).await?;
    let s3 = ferry_testkit::s3::s3_client(&research);
    ferry_testkit::s3::create_bucket(&s3, bucket).await?;
    let kms = aws_sdk_kms::Client::new(&research);
    let research_key = create_research_key(&kms).await?;

    let mut created = Vec::new();
    for (_, account) in ACCOUNTS {
        let deployer = format!("arn:aws:iam::{account}:role/Deployer");
        let hosting = assumed(&research, &deployer).await?;
        let stack =
            create_hosting_stack(&hosting, account, (bucket, prefix), &research_key, true).await?;
        let key = imported_model_key(&stack, account)?;
        store_key_policy_as_aws_would(&moto, &hosting, &key).await?;
        created.push(Hosting {
            hosting,
            stack,
            key,
        });
    }
    let deployment = staged_deployment(&options, &research_key, &created)?;
    let keys: Vec<&str> = created.iter().map(|c| c.key.as_str()).collect();
    let accounts: Vec<&str> = ACCOUNTS.iter().map(|(_, a)| *a).collect();
    let research_stack = create_research_stack(
        &research,
        (&accounts.join(","), Some(STAGES)),
        (bucket, prefix),
        &research_key,
        &keys.join(","),
    )
    .await?;
    let break_key = options.break_research_key;
    put_research_team_policies(&s3, bucket, &kms, &research_key, &deployment, break_key).await?;
    send_bucket_events_to_eventbridge(&s3, bucket).await?;

    let dev = &created[0];
    let alert_queue_url =
        subscribe_alert_inbox(&dev.hosting, &deployment, ALERTS_INBOX, true).await?;
    let stages = stage_accounts(&deployment, created).await?;
    Ok(LocalStack {
        moto,
        emulator,
        research,
        hosting: stages[0].hosting.clone(),
        deployment,
        alert_queue_url,
        events_queue_url: stages[0].events_queue_url.clone(),
        hosting_stack: stages[0].stack.clone(),
        research_stack,
        stages,
    })
}

/// The deployment of the three stages, each with its imported-model key.
fn staged_deployment(
    options: &Options,
    research_key: &str,
    created: &[Hosting],
) -> Result<Deployment> {
    let stages = ACCOUNTS
        .iter()
        .zip(created)
        .map(|((name, account), c)| Stage {
            imported_model_kms_key: Some(c.key.clone()),
            ..Stage::new(name, account)
        })
        .collect();
    let mut d = Deployment::new(RESEARCH, HOSTING, REGION, &options.bucket, &options.prefix)
        .with_stages(stages);
    d.research_kms_key = Some(research_key.to_owned());
    d.external_id = Some(EXTERNAL_ID.into());
    d.validated().map_err(|e| anyhow::anyhow!("{e}"))
}

/// Each account's inboxes: alerts, Ferry's events, the relay's catch.
async fn stage_accounts(
    deployment: &Deployment,
    created: Vec<Hosting>,
) -> Result<Vec<StageAccount>> {
    let mut stages = Vec::new();
    for (((name, account), view), c) in ACCOUNTS.iter().zip(deployment.per_stage()).zip(created) {
        let alert_queue_url =
            subscribe_alert_inbox(&c.hosting, &view, STAGE_ALERTS_INBOX, false).await?;
        let events_queue_url = ferry_testkit::events::subscribe(&c.hosting, EVENTS_INBOX).await?;
        let relay_queue_url = subscribe_relay(&c.hosting, account).await?;
        stages.push(StageAccount {
            name: (*name).to_owned(),
            account: (*account).to_owned(),
            hosting: c.hosting,
            deployment: view,
            stack: c.stack,
            alert_queue_url,
            events_queue_url,
            relay_queue_url,
        });
    }
    Ok(stages)
}

/// A queue in `account` and a rule with the hosting stack's forward rule's pattern
/// sending it what that rule sends the research bus; the queue's URL.
async fn subscribe_relay(hosting: &SdkConfig, account: &str) -> Result<String> {
    let events = aws_sdk_eventbridge::Client::new(hosting);
    let forward = events
        .describe_rule()
        .name(FORWARD_RULE)
        .send()
        .await
        .context("reading the hosting stack's forward rule")?;
    let pattern = forward
        .event_pattern()
        .context("the forward rule has no pattern")?;
    let sqs = aws_sdk_sqs::Client::new(hosting);
    let url = sqs
        .create_queue()
        .queue_name(RELAY_INBOX)
        .send()
        .await
        .context("creating the relay queue")?
        .queue_url()
        .context("no queue URL")?
        .to_owned();
    events
        .put_rule()
        .name(RELAY_INBOX)
        .event_pattern(pattern)
        .send()
        .await
        .context("creating the relay rule")?;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("relay")
        .arn(format!("arn:aws:sqs:{REGION}:{account}:{RELAY_INBOX}"))
        .build()
        .context("the relay rule's target")?;
    events
        .put_targets()
        .rule(RELAY_INBOX)
        .targets(target)
        .send()
        .await
        .context("targeting the relay rule")?;
    Ok(url)
}

impl LocalStack {
    /// The stage named `name`.
    pub fn stage(&self, name: &str) -> Result<&StageAccount> {
        self.stages
            .iter()
            .find(|s| s.name == name)
            .with_context(|| format!("no stage {name} (start the stack with stages)"))
    }

    /// The real `ferry-tracker` binary of stage `name`'s account, with its tracker role's
    /// credentials and its hosting stack's settings.
    pub async fn start_stage_tracker(
        &self,
        name: &str,
        extra: &[(&str, &str)],
    ) -> Result<LocalLambda> {
        let stage = self.stage(name)?;
        let env = self.tracker_env_of(&stage.deployment).await?;
        crate::start_function("ferry-tracker", env, extra).await
    }

    /// Hands what the hosting accounts forwarded to the research stack's PromotionRule
    /// target, as AWS's cross-account delivery would (see the module's note); the events
    /// handed over.
    pub async fn relay_promotions(&self) -> Result<Vec<Value>> {
        let events = aws_sdk_eventbridge::Client::new(&self.research);
        let rule = events
            .describe_rule()
            .name(PROMOTION_RULE)
            .send()
            .await
            .context("reading the research stack's promotion rule")?;
        let pattern: Value = serde_json::from_str(rule.event_pattern().unwrap_or("{}"))
            .context("the promotion rule's pattern")?;
        let targets = events
            .list_targets_by_rule()
            .rule(PROMOTION_RULE)
            .send()
            .await
            .context("reading the promotion rule's targets")?;
        let sqs = aws_sdk_sqs::Client::new(&self.research);
        let mut relayed = Vec::new();
        for stage in &self.stages {
            let caught =
                ferry_testkit::events::drain(&stage.hosting, &stage.relay_queue_url).await?;
            for mut event in caught {
                // moto's SQS delivery leaves out the envelope's `account`; the event was
                // put on this account's bus, which is what AWS would keep.
                if event.get("account").is_none() {
                    event["account"] = Value::String(stage.account.clone());
                }
                if !matches(&pattern, &event)? {
                    continue;
                }
                for target in targets.targets() {
                    let queue = queue_url(&sqs, target.arn()).await?;
                    sqs.send_message()
                        .queue_url(queue)
                        .message_body(event.to_string())
                        .send()
                        .await
                        .context("delivering a promotion event")?;
                }
                relayed.push(event);
            }
        }
        Ok(relayed)
    }

    /// The research bucket's policy as `ferry policies` prints it for the stages named
    /// `only` (the others' roles left out: a policy mistake for them).
    pub async fn put_bucket_policy_for(&self, only: &[&str]) -> Result<()> {
        let stages = self
            .deployment
            .stages()
            .into_iter()
            .filter(|s| only.contains(&s.name.as_str()))
            .collect();
        let d = self.deployment.clone().with_stages(stages);
        ferry_testkit::s3::s3_client(&self.research)
            .put_bucket_policy()
            .bucket(&self.deployment.bucket)
            .policy(bucket_policy(&d).to_string())
            .send()
            .await
            .context("putting the bucket policy")?;
        Ok(())
    }

    /// `ferry promote CONTENT --to STAGE --reason REASON --format json`, the CLI binary
    /// with the importer's variables: its exit code and its decision.
    pub async fn promote_with_cli(
        &self,
        content: &str,
        to: &str,
        reason: &str,
    ) -> Result<(i32, Value)> {
        let ferry = ferry_local_lambda::workspace_binary("ferry")?;
        let output = tokio::process::Command::new(&ferry)
            .args(["promote", content, "--to", to, "--reason", reason])
            .args(["--format", "json"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.importer_env())
            .output()
            .await
            .with_context(|| format!("running {}", ferry.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let decision = serde_json::from_str(&stdout).with_context(|| {
            format!(
                "ferry promote printed no decision: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
        Ok((output.status.code().unwrap_or(-1), decision))
    }
}

/// The URL of the queue `arn` names (in the research account).
async fn queue_url(sqs: &aws_sdk_sqs::Client, arn: &str) -> Result<String> {
    let Some(name) = arn
        .strip_prefix("arn:aws:sqs:")
        .and_then(|r| r.rsplit(':').next())
    else {
        bail!("the promotion rule's target {arn} is not an SQS queue");
    };
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .with_context(|| format!("finding queue {name}"))?
        .queue_url()
        .map(str::to_owned)
        .context("no queue URL")
}

/// Whether `event` matches EventBridge `pattern`, for the patterns Ferry's templates use:
/// nested fields whose leaves list the accepted values.
fn matches(pattern: &Value, event: &Value) -> Result<bool> {
    let Value::Object(fields) = pattern else {
        bail!("relay: pattern {pattern} is not an object");
    };
    for (key, want) in fields {
        let have = &event[key];
        let ok = match want {
            Value::Object(_) => matches(want, have)?,
            Value::Array(values) if values.iter().all(|v| !v.is_object()) => match have {
                Value::Array(items) => items.iter().any(|i| values.contains(i)),
                one => values.contains(one),
            },
            other => bail!("relay: pattern {key}: {other} is not supported"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

impl StageAccount {
    /// Every ledger item of `model` in this stage's ledger, oldest first.
    pub async fn versions(&self, model: &str) -> Result<Vec<LedgerItem>> {
        ledger_versions(&self.hosting, &self.deployment.names.ledger_table, model).await
    }

    /// Sweeps with this stage's `tracker` until the newest version of `model` is in
    /// `state`; the sweeps' reports.
    pub async fn sweep_until(
        &self,
        tracker: &mut LocalLambda,
        model: &str,
        state: ImportState,
    ) -> Result<Vec<Value>> {
        let table = &self.deployment.names.ledger_table;
        sweep_until_in(&self.hosting, table, tracker, model, state).await
    }

    /// The stage's alerts delivered since the last call.
    pub async fn alerts(&self) -> Result<Vec<Alert>> {
        let envelopes = ferry_testkit::events::drain(&self.hosting, &self.alert_queue_url).await?;
        Ok(envelopes
            .iter()
            .map(|e| Alert {
                subject: e["Subject"].as_str().unwrap_or_default().to_owned(),
                message: e["Message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// Ferry's state-change events on this account's bus since the last call.
    pub async fn state_events(&self) -> Result<Vec<Value>> {
        ferry_testkit::events::drain(&self.hosting, &self.events_queue_url).await
    }
}

/// The stages of the importer's decisions that started a job (`?` for one without).
pub fn started_stages(decisions: &[Value]) -> Vec<&str> {
    decisions
        .iter()
        .filter(|d| d["decision"] == "started")
        .map(|d| d["stage"].as_str().unwrap_or("?"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::matches;
    use serde_json::json;

    #[test]
    fn patterns_match_listed_values_at_any_depth() {
        let pattern =
            json!({"source": ["ferry"], "account": ["1", "2"], "detail": {"state": ["Verified"]}});
        let event = json!({"source": "ferry", "account": "2", "detail": {"state": "Verified"}});
        assert!(matches(&pattern, &event).unwrap());
        let other = json!({"source": "ferry", "account": "3", "detail": {"state": "Verified"}});
        assert!(!matches(&pattern, &other).unwrap());
        assert!(matches(&json!({"x": [{"prefix": "a"}]}), &event).is_err());
    }
}
