//! The hosting account after an import, as the tests and the demo look at it: a
//! model's versions in the ledger, its release parameter, sweeps until a version
//! reaches a state, and the release ports an operator's `ferry release` uses.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ferry_core::import::ledger::ALL_STATES;
use ferry_core::import::{ImportState, Ledger, LedgerItem};
use ferry_local_lambda::{LocalLambda, Outcome};
use serde_json::{json, Value};

use ferry_aws::SsmReleasePointer;
use ferry_core::release::{parameter_name, ReleasePointer};

use crate::LocalStack;

const CALL: Duration = Duration::from_secs(60);

impl LocalStack {
    /// Every ledger item of `model` (a folder name), oldest first.
    pub async fn versions(&self, model: &str) -> Result<Vec<LedgerItem>> {
        ledger_versions(&self.hosting, &self.deployment.names.ledger_table, model).await
    }

    /// The value of `model`'s release parameter, read as an application would (the
    /// hosting account's deployer); `None` before its first release.
    pub async fn release_parameter(&self, model: &str) -> Result<Option<String>> {
        let ssm = aws_sdk_ssm::Client::new(&self.hosting);
        let prefix = &self.deployment.release_parameter_prefix;
        Ok(SsmReleasePointer::new(ssm, prefix).live(model).await?)
    }

    /// The name of `model`'s release parameter.
    pub fn release_parameter_name(&self, model: &str) -> String {
        parameter_name(&self.deployment.release_parameter_prefix, model)
    }

    /// Sweeps with `tracker` until the newest version of `model` is in `state`; the
    /// sweeps' reports.
    pub async fn sweep_until(
        &self,
        tracker: &mut LocalLambda,
        model: &str,
        state: ImportState,
    ) -> Result<Vec<Value>> {
        let table = &self.deployment.names.ledger_table;
        sweep_until_in(&self.hosting, table, tracker, model, state).await
    }

    /// The tracker's ports with its role's credentials and configuration, as `ferry
    /// release` and `ferry rollback` build them.
    pub async fn release_ports(&self) -> Result<ferry_aws::AwsTracker> {
        let env: BTreeMap<String, String> = self.tracker_env().await?.into_iter().collect();
        let config = ferry_core::track::TrackerConfig::from_env(|k| env.get(k).cloned())?;
        Ok(ferry_aws::aws_tracker(&self.hosting, &config))
    }
}

/// Every ledger item of `model` in the ledger `table` of `hosting`'s account, oldest first.
pub(crate) async fn ledger_versions(
    hosting: &aws_config::SdkConfig,
    table: &str,
    model: &str,
) -> Result<Vec<LedgerItem>> {
    let client = ferry_aws::config::dynamodb_client(hosting);
    let ledger = ferry_aws::DynamoLedger::new(client, table);
    let mut items = Vec::new();
    for state in ALL_STATES {
        let found = ledger
            .items_in_state(state)
            .await
            .context("reading the ledger")?;
        items.extend(found.into_iter().filter(|i| i.slug == model));
    }
    items.sort_by_key(|i| (i.created_at, i.fingerprint.clone()));
    Ok(items)
}

/// Sweeps with `tracker` until the newest version of `model` in the ledger `table` of
/// `hosting`'s account is in `state`; the sweeps' reports.
pub(crate) async fn sweep_until_in(
    hosting: &aws_config::SdkConfig,
    table: &str,
    tracker: &mut LocalLambda,
    model: &str,
    state: ImportState,
) -> Result<Vec<Value>> {
    let mut reports = Vec::new();
    for _ in 0..100 {
        match tracker.invoke(json!({"action": "sweep"}), CALL).await? {
            Outcome::Response(report) => reports.push(report),
            Outcome::Error(e) => bail!("the tracker's sweep failed: {e}"),
        }
        let versions = ledger_versions(hosting, table, model).await?;
        if versions.last().is_some_and(|i| i.state == state) {
            return Ok(reports);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "{model} never reached {state:?}: {:?}",
        ledger_versions(hosting, table, model).await?
    )
}
