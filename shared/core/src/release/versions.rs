//! A model's versions as the ledger holds them, and which is live and previous.

use super::ReleaseError;
use crate::import::ledger::ALL_STATES;
use crate::import::{ImportState, Ledger, LedgerItem, PortError};

/// The imported versions of one model, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Versions {
    /// Every item of the model whose imported model exists.
    pub items: Vec<LedgerItem>,
}

impl Versions {
    /// The versions of `model` among `items`: those whose imported model exists.
    pub fn of(model: &str, items: impl IntoIterator<Item = LedgerItem>) -> Self {
        let mut items: Vec<LedgerItem> = items
            .into_iter()
            .filter(|i| i.slug == model && i.state.has_model() && i.model_arn.is_some())
            .collect();
        items.sort_by(|a, b| (a.created_at, &a.fingerprint).cmp(&(b.created_at, &b.fingerprint)));
        Self { items }
    }

    /// The Released versions.
    pub fn released(&self) -> impl Iterator<Item = &LedgerItem> {
        self.items
            .iter()
            .filter(|i| i.state == ImportState::Released)
    }

    /// The live version: the newest Released one (two exist only for a moment, or after
    /// a crash that [`super::reconcile`] repairs).
    pub fn live(&self) -> Option<&LedgerItem> {
        self.released()
            .max_by(|a, b| (a.released_at, &a.fingerprint).cmp(&(b.released_at, &b.fingerprint)))
    }
}

/// Every imported version of `model` (a slug), oldest first.
///
/// The state index may lag a write by a moment, so every version it lists is read
/// again from the table (a consistent read) before release decisions rest on it.
pub async fn model_versions<L: Ledger>(ledger: &L, model: &str) -> Result<Versions, PortError> {
    let mut fingerprints = Vec::new();
    for state in ALL_STATES.into_iter().filter(|s| s.has_model()) {
        let listed = ledger.items_in_state(state).await?;
        fingerprints.extend(
            listed
                .into_iter()
                .filter(|i| i.slug == model)
                .map(|i| i.fingerprint),
        );
    }
    fingerprints.sort_unstable();
    fingerprints.dedup();
    let mut items = Vec::with_capacity(fingerprints.len());
    for fingerprint in &fingerprints {
        items.extend(ledger.get(fingerprint).await?);
    }
    Ok(Versions::of(model, items))
}

/// The live version and the one it replaced, when that one is still imported.
pub fn live_and_previous(versions: &Versions) -> (Option<&LedgerItem>, Option<&LedgerItem>) {
    let live = versions.live();
    let previous = live
        .and_then(|l| l.replaced.as_deref())
        .and_then(|fp| versions.items.iter().find(|i| i.fingerprint == fp));
    (live, previous)
}

/// The version `reference` names: its name, its model ARN, its fingerprint, or a
/// fingerprint prefix of at least 8 characters.
pub fn find_version<'a>(
    versions: &'a Versions,
    model: &str,
    reference: &str,
) -> Result<&'a LedgerItem, ReleaseError> {
    if versions.items.is_empty() {
        return Err(ReleaseError::UnknownModel(model.to_owned()));
    }
    let exact: Vec<&LedgerItem> = versions
        .items
        .iter()
        .filter(|i| {
            i.name == reference
                || i.fingerprint == reference
                || i.model_arn.as_deref() == Some(reference)
        })
        .collect();
    let matches = if exact.is_empty() && reference.len() >= 8 {
        versions
            .items
            .iter()
            .filter(|i| i.fingerprint.starts_with(reference))
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(ReleaseError::UnknownVersion {
            model: model.to_owned(),
            reference: crate::text::display(reference),
        }),
        many => Err(ReleaseError::Ambiguous {
            model: model.to_owned(),
            reference: crate::text::display(reference),
            count: many.len(),
        }),
    }
}
