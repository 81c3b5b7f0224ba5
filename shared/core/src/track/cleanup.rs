//! Cleanup of idle imported models. The plan is pure and table-tested: a model is
//! deleted only when every rule allows it; the run deletes what the plan says,
//! records each deletion in the ledger and announces it. S3 artifacts are never touched.

use serde::Serialize;

use super::ports::{ModelInfo, ModelRegistry, TrackerPorts, Usage};
use crate::iam::matcher::glob;
use crate::import::{
    Alerts, Hosting, ImportService, ImportState, Ledger, LedgerItem, LedgerUpdate, PortError,
};
use crate::outbox::EventBus;

/// The tag that keeps a model whatever its use.
pub(crate) const PROTECT_TAG: &str = "ferry:protect";

/// What cleanup may delete (`FERRY_CLEANUP*` variables): a model goes only when every
/// rule allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupRules {
    /// Delete (true) or only plan (false).
    pub apply: bool,
    /// A model younger than this (seconds) is never deleted.
    pub min_age_secs: u64,
    /// A model with no invocations in this many seconds before now is idle.
    pub idle_secs: u64,
    /// The newest versions of each model that are always kept.
    pub keep_newest: usize,
    /// Models not imported by Ferry are candidates only when their name matches.
    pub name_pattern: Option<String>,
}

/// A model and what Ferry knows of its use (`None`: not looked up, or unknown).
#[derive(Debug, Clone)]
pub struct ModelFacts {
    /// The model as ListImportedModels gives it, with its tags.
    pub model: ModelInfo,
    /// Its `Invocations` over the idle window.
    pub invocations: Option<u64>,
    /// Whether it is its model's live or previous release (never deleted).
    pub release: Option<ReleaseRole>,
}

/// A version's place in its model's releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReleaseRole {
    /// The live version: the release pointer names it.
    Live,
    /// The version a rollback goes back to.
    Previous,
}

/// Cleanup's verdict on one imported model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanEntry {
    /// The imported model's ARN.
    pub arn: String,
    /// The imported model's name (`modelName`).
    pub name: String,
    /// The model these versions belong to (`ferry:model` tag, or the name's stem).
    pub group: String,
    /// Whole days since the model was created.
    pub age_days: u64,
    /// `Invocations` over the idle window; `None`: not looked up (another rule keeps it)
    /// or unreadable.
    pub invocations: Option<u64>,
    /// Whether the plan deletes it.
    pub delete: bool,
    /// Why it is kept, or why it may go.
    pub reason: String,
}

/// Whether a model is Ferry's to clean up at all.
fn in_scope(model: &ModelInfo, rules: &CleanupRules) -> bool {
    model.tag("ferry:fingerprint").is_some()
        || rules
            .name_pattern
            .as_deref()
            .is_some_and(|p| glob(p, &model.name, false))
}

fn protected(model: &ModelInfo) -> bool {
    model
        .tag(PROTECT_TAG)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The model a version belongs to. Ferry's imports: their source folder (the
/// `ferry:source` tag; `ferry:model` for older imports). Other models: the name
/// without Ferry's date and hash or a trailing `-vN` (`chat-v3` → `chat`), in a
/// namespace of their own so that a model outside Ferry never counts as a newer
/// version of one of Ferry's.
fn group_of(model: &ModelInfo) -> String {
    if let Some(source) = model
        .tag("ferry:source")
        .or_else(|| model.tag("ferry:model"))
    {
        return format!("ferry:{source}");
    }
    let parts: Vec<&str> = model.name.rsplitn(3, '-').collect();
    if let [_, date, stem] = parts.as_slice() {
        if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
            return format!("name:{stem}");
        }
    }
    let stem = match model.name.rsplit_once('-') {
        Some((head, last))
            if !head.is_empty()
                && last.len() > 1
                && last.starts_with('v')
                && last[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            head
        }
        _ => model.name.as_str(),
    };
    format!("name:{stem}")
}

/// Whether the model needs its usage looked up (every other rule lets it go).
pub(crate) fn needs_usage(facts: &ModelFacts, rules: &CleanupRules, now: u64) -> bool {
    let model = &facts.model;
    facts.release.is_none()
        && in_scope(model, rules)
        && !protected(model)
        && now.saturating_sub(model.created_at) >= rules.min_age_secs
}

/// The plan: deletions first, the idlest (then oldest) first; then the kept ones.
pub(crate) fn plan_cleanup(
    models: &[ModelFacts],
    rules: &CleanupRules,
    now: u64,
) -> Vec<PlanEntry> {
    // Rank within each group, newest first, among the models cleanup may touch.
    let newer_than = models.iter().map(|a| {
        models
            .iter()
            .filter(|b| in_scope(&b.model, rules))
            .filter(|b| group_of(&b.model) == group_of(&a.model))
            .filter(|b| (b.model.created_at, &b.model.arn) > (a.model.created_at, &a.model.arn))
            .count()
    });
    let mut entries: Vec<PlanEntry> = models
        .iter()
        .zip(newer_than)
        .map(|(facts, newer)| {
            let m = &facts.model;
            let age = now.saturating_sub(m.created_at);
            let (delete, reason) = verdict(facts, newer, rules, now);
            PlanEntry {
                arn: m.arn.clone(),
                name: m.name.clone(),
                group: group_of(m),
                age_days: age / DAY,
                invocations: facts.invocations,
                delete,
                reason,
            }
        })
        .collect();
    entries.sort_by_key(|e| {
        (
            !e.delete,
            e.invocations.unwrap_or(u64::MAX),
            std::cmp::Reverse(e.age_days),
            e.arn.clone(),
        )
    });
    entries
}

const DAY: u64 = 24 * 3600;

/// Whether one model goes, and why: the rules in order, the first that keeps it wins.
fn verdict(facts: &ModelFacts, newer: usize, rules: &CleanupRules, now: u64) -> (bool, String) {
    let m = &facts.model;
    let age = now.saturating_sub(m.created_at);
    let idle_days = rules.idle_secs / DAY;
    let keep = |reason: String| (false, reason);
    if !in_scope(m, rules) {
        keep("not imported by Ferry and not matching FERRY_CLEANUP_NAME_PATTERN".into())
    } else if protected(m) {
        keep(format!("tagged {PROTECT_TAG}=true"))
    } else if let Some(role) = facts.release {
        keep(match role {
            ReleaseRole::Live => "the live release of its model".into(),
            ReleaseRole::Previous => {
                "the previous release of its model (ferry rollback's target)".into()
            }
        })
    } else if age < rules.min_age_secs {
        keep(format!("younger than {} day(s)", rules.min_age_secs / DAY))
    } else if newer < rules.keep_newest {
        keep(format!(
            "one of the {} newest version(s) of {}",
            rules.keep_newest,
            group_of(m)
        ))
    } else {
        match facts.invocations {
            None => keep("its invocations could not be read".into()),
            Some(n) if n > 0 => keep(format!("{n} invocation(s) in the last {idle_days} day(s)")),
            Some(_) => (
                true,
                format!(
                    "no invocations in the last {idle_days} day(s), {} day(s) old, {newer} newer version(s) of {}, not protected",
                    age / DAY,
                    group_of(m)
                ),
            ),
        }
    }
}

/// What a cleanup did, or with a dry run would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    /// Only planned: nothing was deleted.
    pub dry_run: bool,
    /// The verdict on every imported model, deletions first (as `plan_cleanup` rules).
    pub plan: Vec<PlanEntry>,
    /// The ARNs of the models deleted.
    pub deleted: Vec<String>,
    /// Calls that failed (reading usage, deleting, recording a deletion); cleanup went on
    /// with the other models.
    pub errors: Vec<String>,
}

/// Every imported model judged by `rules` (a dry run only plans): the scheduled
/// cleanup and `ferry cleanup`.
pub async fn cleanup(
    tracker: &impl TrackerPorts,
    rules: &CleanupRules,
    dry_run: bool,
    now: u64,
) -> Result<CleanupReport, PortError> {
    run_cleanup(
        tracker.hosting(),
        tracker.models(),
        tracker.usage(),
        rules,
        dry_run,
        None,
        now,
    )
    .await
}

/// Lists the models, reads the usage of those that could go, plans, and (unless a dry
/// run) deletes at most `limit` of the planned deletions.
pub async fn run_cleanup<L, I, A, E, M, U>(
    hosting: &Hosting<L, I, A, E>,
    registry: &M,
    usage: &U,
    rules: &CleanupRules,
    dry_run: bool,
    limit: Option<usize>,
    now: u64,
) -> Result<CleanupReport, PortError>
where
    L: Ledger,
    I: ImportService,
    A: Alerts,
    E: EventBus,
    M: ModelRegistry,
    U: Usage,
{
    let models = registry.list_models().await?;
    let releases = release_roles(&hosting.ledger).await?;
    let mut errors = Vec::new();
    let mut facts = Vec::with_capacity(models.len());
    for model in models {
        facts.push(gather_facts(model, &releases, usage, rules, now, &mut errors).await);
    }
    let plan = plan_cleanup(&facts, rules, now);
    let mut report = CleanupReport {
        dry_run,
        deleted: Vec::new(),
        errors,
        plan,
    };
    if dry_run {
        return Ok(report);
    }
    let doomed: Vec<PlanEntry> = report
        .plan
        .iter()
        .filter(|e| e.delete)
        .take(limit.unwrap_or(usize::MAX))
        .cloned()
        .collect();
    for entry in doomed {
        let model = facts.iter().map(|f| &f.model).find(|m| m.arn == entry.arn);
        // A release (or rollback) may have made it live since the plan was read.
        match release_roles(&hosting.ledger).await {
            Ok(roles) if roles.iter().any(|(arn, _)| *arn == entry.arn) => {
                report
                    .errors
                    .push(format!("{} was released during cleanup: kept", entry.name));
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                report.errors.push(format!(
                    "re-reading the releases before deleting {}: {e}",
                    entry.name
                ));
                continue;
            }
        }
        if let Err(e) = registry.delete_model(&entry.arn).await {
            report.errors.push(format!("deleting {}: {e}", entry.name));
            continue;
        }
        tracing::info!(model = %entry.name, arn = %entry.arn, reason = %entry.reason, "deleted idle imported model");
        report.deleted.push(entry.arn.clone());
        if let Err(e) = record_deletion(hosting, model, &entry, now).await {
            report
                .errors
                .push(format!("recording the deletion of {}: {e}", entry.name));
        }
    }
    Ok(report)
}

/// What the plan needs to know of one model: its release role, and its usage when
/// every other rule lets it go (only then a CloudWatch call).
async fn gather_facts<U: Usage>(
    model: ModelInfo,
    releases: &[(String, ReleaseRole)],
    usage: &U,
    rules: &CleanupRules,
    now: u64,
    errors: &mut Vec<String>,
) -> ModelFacts {
    let release = releases
        .iter()
        .find(|(arn, _)| *arn == model.arn)
        .map(|(_, role)| *role);
    let mut facts = ModelFacts {
        model,
        invocations: None,
        release,
    };
    if needs_usage(&facts, rules, now) {
        let since = now.saturating_sub(rules.idle_secs);
        match usage.invocations(&facts.model.arn, since, now).await {
            Ok(n) => facts.invocations = Some(n),
            Err(e) => errors.push(format!("{}: {e}", facts.model.name)),
        }
    }
    facts
}

/// The model ARNs of every live release and of the version each one replaced. A failure
/// stops the cleanup: deleting without knowing what is live could delete it.
async fn release_roles<L: Ledger>(ledger: &L) -> Result<Vec<(String, ReleaseRole)>, PortError> {
    let mut roles = Vec::new();
    for live in ledger.items_in_state(ImportState::Released).await? {
        if let Some(previous) = &live.replaced {
            if let Some(arn) = ledger.get(previous).await?.and_then(|p| p.model_arn) {
                roles.push((arn, ReleaseRole::Previous));
            }
        }
        if let Some(arn) = live.model_arn {
            roles.push((arn, ReleaseRole::Live));
        }
    }
    Ok(roles)
}

/// The ledger keeps the deletion (the import's item becomes Deleted, or a record is
/// made for a model Ferry did not import) and the alert goes out once.
async fn record_deletion<L: Ledger, I, A: Alerts, E: EventBus>(
    hosting: &Hosting<L, I, A, E>,
    model: Option<&ModelInfo>,
    entry: &PlanEntry,
    now: u64,
) -> Result<(), PortError> {
    let note = format!("deleted by cleanup: {}", entry.reason);
    let deleted = LedgerUpdate {
        state: Some(ImportState::Deleted),
        now,
        failure: Some(note.clone()),
        model_arn: Some(entry.arn.clone()),
        set_alerted: Some(false),
        ..Default::default()
    };
    let fingerprint = model
        .and_then(|m| m.tag("ferry:fingerprint"))
        .map(str::to_owned);
    let recorded = match &fingerprint {
        Some(fp) => match hosting.ledger.get(fp).await? {
            Some(item) if item.state.has_model() && item.state != ImportState::Released => {
                hosting.ledger.transition(fp, item.state, &deleted).await?
            }
            _ => false,
        },
        None => false,
    };
    let key = if recorded {
        fingerprint.unwrap_or_default()
    } else {
        let key = format!("model:{}", entry.arn);
        let item = LedgerItem {
            finished_at: Some(now),
            model_arn: Some(entry.arn.clone()),
            failure: Some(note),
            architecture: model.and_then(|m| m.architecture.clone()),
            custom_model_units: model.and_then(|m| m.custom_model_units),
            ..LedgerItem::new(
                &key,
                ImportState::Deleted,
                "",
                &entry.name,
                &entry.name,
                now,
            )
        };
        hosting.ledger.insert_new(&item).await?;
        key
    };
    crate::outbox::announce(hosting, &key).await;
    crate::import::start::send_alert(hosting, &key).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 3600;
    const NOW: u64 = 1_000 * DAY;

    fn rules() -> CleanupRules {
        CleanupRules {
            apply: true,
            min_age_secs: 7 * DAY,
            idle_secs: 14 * DAY,
            keep_newest: 1,
            name_pattern: Some("legacy-*".into()),
        }
    }

    fn model(name: &str, age_days: u64, tags: &[(&str, &str)]) -> ModelInfo {
        ModelInfo {
            arn: format!("arn:aws:bedrock:us-east-1:777788889999:imported-model/{name}"),
            name: name.into(),
            created_at: NOW - age_days * DAY,
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            architecture: None,
            custom_model_units: None,
        }
    }

    fn ferry(name: &str, group: &str, age_days: u64) -> ModelInfo {
        model(
            name,
            age_days,
            &[("ferry:fingerprint", name), ("ferry:model", group)],
        )
    }

    #[test]
    fn each_rule_keeps_a_model_on_its_own() {
        // (model, invocations, delete?, reason contains)
        let table: Vec<(ModelInfo, Option<u64>, bool, &str)> = vec![
            (
                ferry("llama-old", "llama", 60),
                Some(0),
                true,
                "no invocations",
            ),
            (ferry("llama-new", "llama", 30), Some(0), false, "newest"),
            (
                ferry("mistral-a", "mistral", 3),
                Some(0),
                false,
                "younger than 7",
            ),
            (
                ferry("mistral-b", "mistral", 40),
                Some(5),
                false,
                "5 invocation(s)",
            ),
            (
                ferry("mistral-c", "mistral", 50),
                None,
                false,
                "could not be read",
            ),
            (
                model("theirs-1", 90, &[]),
                Some(0),
                false,
                "not imported by Ferry",
            ),
            (
                model("legacy-chat-v1", 90, &[]),
                Some(0),
                true,
                "no invocations",
            ),
            (model("legacy-chat-v2", 10, &[]), Some(0), false, "newest"),
            (
                model(
                    "prot",
                    90,
                    &[
                        ("ferry:fingerprint", "p"),
                        ("ferry:model", "p"),
                        ("ferry:protect", "TRUE"),
                    ],
                ),
                Some(0),
                false,
                "ferry:protect",
            ),
            (
                ferry("mistral-d", "mistral", 45),
                Some(0),
                true,
                "newer version",
            ),
            // Idle, old and outranked, yet kept: what is live, and what a rollback
            // goes back to.
            (
                ferry("llama-live", "llama", 90),
                Some(0),
                false,
                "live release",
            ),
            (
                ferry("llama-prev", "llama", 95),
                Some(0),
                false,
                "previous release",
            ),
        ];
        let release_of = |name: &str| match name {
            "llama-live" => Some(ReleaseRole::Live),
            "llama-prev" => Some(ReleaseRole::Previous),
            _ => None,
        };
        let facts: Vec<ModelFacts> = table
            .iter()
            .map(|(m, n, _, _)| ModelFacts {
                model: m.clone(),
                invocations: *n,
                release: release_of(&m.name),
            })
            .collect();
        // A release is never looked up in CloudWatch: no rule could let it go.
        for f in &facts {
            assert_eq!(
                needs_usage(f, &rules(), NOW),
                f.release.is_none()
                    && !["mistral-a", "theirs-1", "prot"].contains(&f.model.name.as_str()),
                "{}",
                f.model.name
            );
        }
        // mistral-a is the newest mistral (3 days): the others are older versions.
        let plan = plan_cleanup(&facts, &rules(), NOW);
        for (m, _, delete, reason) in &table {
            let entry = plan.iter().find(|e| e.name == m.name).unwrap();
            assert_eq!(entry.delete, *delete, "{}: {}", m.name, entry.reason);
            assert!(
                entry.reason.contains(reason),
                "{}: {}",
                m.name,
                entry.reason
            );
        }
        // Deletions first, the oldest idle one first.
        assert!(plan[0].delete && plan[1].delete && plan[2].delete);
        assert!(!plan[3].delete);
        assert!(plan[0].age_days >= plan[1].age_days);
    }

    #[test]
    fn keep_k_keeps_the_newest_k_of_each_group() {
        let facts: Vec<ModelFacts> = (0..5)
            .map(|i| ModelFacts {
                model: ferry(&format!("m-{i}"), "m", 20 + i * 10),
                invocations: Some(0),
                release: None,
            })
            .collect();
        let mut rules = rules();
        rules.keep_newest = 2;
        let plan = plan_cleanup(&facts, &rules, NOW);
        let kept: Vec<&str> = plan
            .iter()
            .filter(|e| !e.delete)
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(kept.len(), 2);
        assert!(kept.contains(&"m-0") && kept.contains(&"m-1"), "{kept:?}");
    }

    #[test]
    fn groups_come_from_ferry_names_when_untagged() {
        let group = |name: &str| group_of(&model(name, 1, &[]));
        assert_eq!(group("llama-ft-20261122-abcdef12"), "name:llama-ft");
        assert_eq!(group("custom"), "name:custom");
        assert_eq!(group("a-b-c"), "name:a-b-c");
        // Different models, not versions of one.
        assert_eq!(group("llama-2"), "name:llama-2");
        assert_eq!(group("chat-7b-v3"), "name:chat-7b");
        // Two folders with the same slug are two models.
        let a = model("x", 1, &[("ferry:source", "s3://r/team-a/llama/")]);
        let b = model("y", 1, &[("ferry:source", "s3://r/team-b/llama/")]);
        assert_ne!(group_of(&a), group_of(&b));
    }

    #[test]
    fn a_model_outside_ferry_is_never_a_newer_version_of_ferrys() {
        // Ferry's only llama, idle and old; someone's newer model named like Ferry's
        // but untagged and out of scope: Ferry's stays.
        let ours = ferry("llama-20261101-aaaaaaaa", "llama", 60);
        let theirs = model("llama-20261201-bbbbbbbb", 10, &[]);
        let facts = [
            ModelFacts {
                model: ours,
                invocations: Some(0),
                release: None,
            },
            ModelFacts {
                model: theirs,
                invocations: Some(0),
                release: None,
            },
        ];
        let plan = plan_cleanup(&facts, &rules(), NOW);
        let entry = plan
            .iter()
            .find(|e| e.name.starts_with("llama-20261101"))
            .unwrap();
        assert!(!entry.delete, "{}", entry.reason);
    }
}
