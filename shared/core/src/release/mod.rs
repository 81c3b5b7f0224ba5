//! Release by a stable name: each model (the versions imported from one folder name,
//! its slug) has one live version, whose ARN applications read from the model's
//! pointer (an SSM parameter, `/ferry/<model>/live`). The ledger decides: the live
//! version is the model's `Released` item (the newest, should a crash or a race leave
//! two for a moment); `replaced` on it names the previous one, the target of a
//! rollback. The pointer follows the ledger, and [`reconcile`] repairs it after a crash.

pub mod ports;
mod versions;

pub use ports::{MemoryPointer, ReleasePointer};
pub use versions::{find_version, live_and_previous, model_versions, Versions};

use crate::import::{Hosting, ImportState, Ledger, LedgerItem, LedgerUpdate, PortError};
use crate::outbox::{announce, EventBus};
use crate::text;

/// The parameter that holds `model`'s live ARN, under `prefix` (`/ferry`).
pub fn parameter_name(prefix: &str, model: &str) -> String {
    format!("{}/{model}/live", prefix.trim_end_matches('/'))
}

/// Why a release or rollback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// No version of the model is in the ledger.
    #[error(
        "no imported version of model {0:?} is in the ledger: `ferry status` lists the models"
    )]
    UnknownModel(String),
    /// The version reference matched nothing.
    #[error("model {model:?} has no version {reference:?}: give a version's name, its fingerprint (8 characters or more) or its model ARN, as `ferry status` shows them")]
    UnknownVersion {
        /// The model.
        model: String,
        /// What was asked for.
        reference: String,
    },
    /// The version reference matched several versions.
    #[error("{reference:?} matches {count} versions of {model:?}: give more of the fingerprint or the full name")]
    Ambiguous {
        /// The model.
        model: String,
        /// What was asked for.
        reference: String,
        /// How many matched.
        count: usize,
    },
    /// The version cannot be released in its state.
    #[error("{name} is {state:?}: {hint}")]
    NotReleasable {
        /// The version's name.
        name: String,
        /// Its state.
        state: ImportState,
        /// What to do.
        hint: String,
    },
    /// A rollback with no previous version.
    #[error("{0}")]
    NoPrevious(String),
    /// A ledger or pointer call failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// What a release or rollback left live.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReleaseOutcome {
    /// The model.
    pub model: String,
    /// The live version's name.
    pub live: String,
    /// Its model ARN: the pointer's value.
    pub live_arn: String,
    /// The version a rollback would go back to.
    pub previous: Option<String>,
    /// Whether this call changed anything (false: the version was live already).
    pub changed: bool,
}

/// Whether a version in `state` may be released: Verified, Retired, or already
/// Released; Completed (no smoke test) and SmokeFailed only when `force`d.
fn releasable(item: &LedgerItem, force: bool) -> Result<(), ReleaseError> {
    let hint = match item.state {
        ImportState::Verified | ImportState::Retired | ImportState::Released => return Ok(()),
        ImportState::Completed | ImportState::SmokeFailed if force => return Ok(()),
        ImportState::Completed => {
            "its smoke test has not passed yet: wait for Verified, or add --force"
        }
        ImportState::SmokeFailed => {
            "it failed its smoke test (see its alert): fix and import again, or add --force"
        }
        _ => "only an imported model can be released",
    };
    if item.model_arn.is_none() {
        return Err(ReleaseError::NotReleasable {
            name: item.name.clone(),
            state: item.state,
            hint: "the ledger has no model ARN for it".into(),
        });
    }
    Err(ReleaseError::NotReleasable {
        name: item.name.clone(),
        state: item.state,
        hint: hint.into(),
    })
}

/// Releases `reference` (a name, fingerprint prefix or model ARN) of `model`: the
/// version becomes live, the pointer names it, the version it replaces is retired.
/// `note` says who asked and why (it goes into the history and the events).
pub async fn release<L: Ledger, I, A, E: EventBus, P: ReleasePointer>(
    hosting: &Hosting<L, I, A, E>,
    pointer: &P,
    model: &str,
    reference: &str,
    note: &str,
    force: bool,
) -> Result<ReleaseOutcome, ReleaseError> {
    let versions = model_versions(&hosting.ledger, model).await?;
    let target = find_version(&versions, model, reference)?.clone();
    release_version(hosting, pointer, versions, &target, note, force).await
}

/// The auto rule's release of `item`: as [`release`], but never over a newer live
/// version (a slow smoke test, or a release retried after a newer one went live):
/// `Ok(None)` then.
pub async fn release_automatically<L: Ledger, I, A, E: EventBus, P: ReleasePointer>(
    hosting: &Hosting<L, I, A, E>,
    pointer: &P,
    item: &LedgerItem,
    note: &str,
    force: bool,
) -> Result<Option<ReleaseOutcome>, ReleaseError> {
    let versions = model_versions(&hosting.ledger, &item.slug).await?;
    if let Some(live) = versions.live().filter(|l| l.created_at > item.created_at) {
        tracing::info!(version = %item.name, live = %live.name, "not released automatically: the live version is newer");
        return Ok(None);
    }
    let target = find_version(&versions, &item.slug, &item.fingerprint)?.clone();
    release_version(hosting, pointer, versions, &target, note, force)
        .await
        .map(Some)
}

/// Releases `target`, one of `versions`, after the checks every release makes.
async fn release_version<L: Ledger, I, A, E: EventBus, P: ReleasePointer>(
    hosting: &Hosting<L, I, A, E>,
    pointer: &P,
    versions: Versions,
    target: &LedgerItem,
    note: &str,
    force: bool,
) -> Result<ReleaseOutcome, ReleaseError> {
    releasable(target, force)?;
    let model = &target.slug;
    if let Some(live) = versions
        .live()
        .filter(|l| l.source_uri != target.source_uri)
    {
        return Err(ReleaseError::NotReleasable {
            name: target.name.clone(),
            state: target.state,
            hint: format!(
                "it comes from {} but the live version of {model} from {}: two folders share the \
                 name {model}, and one release parameter cannot serve both; rename one folder",
                target.source_uri, live.source_uri
            ),
        });
    }
    let replaced = versions
        .live()
        .map(|l| l.fingerprint.clone())
        .filter(|l| *l != target.fingerprint);
    make_live(hosting, pointer, versions, target, replaced, note).await
}

/// Goes back to the version the live one replaced, which must still be imported.
pub async fn rollback<L: Ledger, I, A, E: EventBus, P: ReleasePointer>(
    hosting: &Hosting<L, I, A, E>,
    pointer: &P,
    model: &str,
    note: &str,
) -> Result<ReleaseOutcome, ReleaseError> {
    let versions = model_versions(&hosting.ledger, model).await?;
    let (live, previous) = live_and_previous(&versions);
    let Some(live) = live else {
        return Err(ReleaseError::NoPrevious(format!(
            "model {model:?} has no live version to roll back from"
        )));
    };
    let Some(previous) = previous else {
        let why = match &live.replaced {
            None => "it was the model's first release".to_owned(),
            Some(fp) => format!(
                "the version it replaced ({}) is no longer imported",
                text::display(fp)
            ),
        };
        return Err(ReleaseError::NoPrevious(format!(
            "{} is live and there is nothing to roll back to: {why}; release a version by name instead",
            live.name
        )));
    };
    // A rollback target keeps its own `replaced`, so a second rollback goes further back.
    let note = format!("rollback from {}: {note}", live.name);
    let previous = previous.clone();
    make_live(hosting, pointer, versions, &previous, None, &note).await
}

/// Makes `target` the Released item (recording what it replaced), points the pointer
/// at it, and retires every older Released version of the model.
async fn make_live<L: Ledger, I, A, E: EventBus, P: ReleasePointer>(
    hosting: &Hosting<L, I, A, E>,
    pointer: &P,
    mut versions: Versions,
    target: &LedgerItem,
    replaced: Option<String>,
    note: &str,
) -> Result<ReleaseOutcome, ReleaseError> {
    // Live is the newest Released version: a Released target that is not the newest
    // (left by a crash) is made the newest, not taken as done.
    let changed = versions.live().map(|l| &l.fingerprint) != Some(&target.fingerprint);
    if changed {
        let now = hosting.now_secs();
        let newest = versions.released().filter_map(|i| i.released_at).max();
        let update = LedgerUpdate {
            state: Some(ImportState::Released),
            now,
            set_released_at: Some(newest.map_or(now, |n| now.max(n.saturating_add(1)))),
            set_replaced: replaced.filter(|_| target.state != ImportState::Released),
            note: Some(note.to_owned()),
            ..Default::default()
        };
        if !hosting
            .ledger
            .transition(&target.fingerprint, target.state, &update)
            .await?
        {
            return Err(PortError::new(
                crate::import::PortErrorKind::Retryable,
                "dynamodb:UpdateItem",
                format!(
                    "{} changed state while being released: run the command again",
                    target.name
                ),
            )
            .into());
        }
        // What the write just did, without reading the versions again.
        if let Some(written) = versions
            .items
            .iter_mut()
            .find(|i| i.fingerprint == target.fingerprint)
        {
            update.apply(written);
        }
    }
    let outcome = reconcile_from(hosting, pointer, &target.slug, versions).await?;
    Ok(ReleaseOutcome { changed, ..outcome })
}

/// Makes the pointer and the ledger agree: the newest Released version is live, the
/// pointer names it, any other Released version is retired. Run after every release,
/// and by the sweep when a model has two Released versions or its pointer does not
/// name its live one (a crash or a race between the writes).
pub async fn reconcile<L: Ledger, I, A, E: EventBus, P: ReleasePointer>(
    hosting: &Hosting<L, I, A, E>,
    pointer: &P,
    model: &str,
) -> Result<ReleaseOutcome, ReleaseError> {
    let versions = model_versions(&hosting.ledger, model).await?;
    reconcile_from(hosting, pointer, model, versions).await
}

/// [`reconcile`] from `versions` as just read (or just written).
async fn reconcile_from<L: Ledger, I, A, E: EventBus, P: ReleasePointer>(
    hosting: &Hosting<L, I, A, E>,
    pointer: &P,
    model: &str,
    mut versions: Versions,
) -> Result<ReleaseOutcome, ReleaseError> {
    // Two releasers may race: each re-reads after writing, and the last to look writes
    // the newest, so the pointer ends on the ledger's choice.
    for _ in 0..3 {
        let Some(live) = versions.live().cloned() else {
            return Err(ReleaseError::UnknownModel(model.to_owned()));
        };
        let arn = live.model_arn.clone().unwrap_or_default();
        if pointer.live(model).await?.as_deref() != Some(arn.as_str()) {
            pointer.set_live(model, &arn, &live.name).await?;
        }
        retire_others(hosting, &versions, &live).await?;
        versions = model_versions(&hosting.ledger, model).await?;
        if versions.live().map(|l| &l.fingerprint) == Some(&live.fingerprint) {
            let (_, previous) = live_and_previous(&versions);
            return Ok(ReleaseOutcome {
                model: model.to_owned(),
                live: live.name.clone(),
                live_arn: arn,
                previous: previous.map(|p| p.name.clone()),
                changed: true,
            });
        }
    }
    Err(PortError::new(
        crate::import::PortErrorKind::Retryable,
        "release",
        format!("releases of {model} kept racing: run the command again"),
    )
    .into())
}

async fn retire_others<L: Ledger, I, A, E: EventBus>(
    hosting: &Hosting<L, I, A, E>,
    versions: &Versions,
    live: &LedgerItem,
) -> Result<(), PortError> {
    for other in versions
        .released()
        .filter(|i| i.fingerprint != live.fingerprint)
    {
        let retire = LedgerUpdate {
            state: Some(ImportState::Retired),
            now: hosting.now_secs(),
            note: Some(format!("replaced by {}", live.name)),
            ..Default::default()
        };
        hosting
            .ledger
            .transition(&other.fingerprint, ImportState::Released, &retire)
            .await?;
        announce(hosting, &other.fingerprint).await;
    }
    announce(hosting, &live.fingerprint).await;
    Ok(())
}
