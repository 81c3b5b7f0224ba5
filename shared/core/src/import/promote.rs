//! Promotion: a content imported in one stage enters the next through the one start
//! path, when a stage's state-change event arrives (routed by EventBridge from the
//! stage's account) or when someone runs `ferry promote`. The event only wakes the
//! importer: the gate stage's own ledger decides, so a duplicated, reordered or forged
//! event can neither start a second job (the stage's ledger admits a content once) nor
//! promote what the gate has not passed.

use super::config::{ImporterConfig, StageConfig};
use super::events::StateChangeEvent;
use super::fingerprint::{folder_slug, identify};
use super::importer::{
    in_stage, Connect, Content, Decision, ImportError, StagesOutcome, SMALL_FILES,
};
use super::ports::Ledger;
use super::readiness::{index_readiness, listed_readiness, Listed, Readiness};
use crate::aws_names::s3_uri::S3Uri;
use crate::stages::Gate;
use crate::validate::source::{FolderSource, Remembered};

/// Why a content is offered to a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The upload path for this stage alone (`ferry import --retry --stage` on a content
    /// the stage has not seen): no gate, no note.
    Upload,
    /// The gate stage's state-change event.
    Gate,
    /// `ferry promote`: who asked (the caller's ARN) and why; `force` skips the check
    /// that the stage before has the content verified.
    Manual {
        /// The caller's ARN.
        by: String,
        /// The reason given.
        reason: String,
        /// Promote whatever the stage before says.
        force: bool,
    },
}

/// The importer's share of a state-change event: every stage whose gate waits for the
/// event's stage is offered the content. Events from an account that is not the
/// stage's are ignored (logged), as are those of states no gate waits for.
pub(crate) async fn on_state_change<C: Connect>(
    event: &StateChangeEvent,
    connect: &C,
    config: &ImporterConfig,
) -> Result<Vec<Decision>, ImportError> {
    let Some(from) = sending_stage(event, config) else {
        tracing::warn!(stage = ?event.stage, account = %event.account, decision = "ignored", "a state-change event of a stage this importer does not have");
        return Ok(Vec::new());
    };
    if from.account() != event.account {
        tracing::warn!(stage = from.label(), account = %event.account, expected = from.account(), decision = "ignored", "a state-change event from another account than the stage's");
        return Ok(Vec::new());
    }
    let uri = match S3Uri::parse(&event.folder) {
        Ok(uri)
            if config
                .watch
                .iter()
                .any(|w| uri.bucket == w.bucket && uri.prefix.starts_with(&w.prefix)) =>
        {
            uri
        }
        _ => {
            tracing::warn!(folder = %crate::text::echo(&event.folder), decision = "ignored", "a state-change event of a folder outside the watched prefixes");
            return Ok(Vec::new());
        }
    };
    let waiting = config.stages.iter().filter(|s| {
        matches!(&s.gate, Gate::After { stage, .. } if from.name.as_deref() == Some(stage.as_str()))
    });
    let mut outcome = StagesOutcome::default();
    for to in waiting {
        let decision = promote(
            &uri,
            Some(&event.fingerprint),
            to,
            &Cause::Gate,
            connect,
            config,
        )
        .await;
        outcome.add(to, decision);
    }
    outcome.into_result(&event.folder)
}

/// The stage an event comes from: the one it names, or, from an item written before
/// the deployment named its stages, the only stage of the event's account.
fn sending_stage<'a>(
    event: &StateChangeEvent,
    config: &'a ImporterConfig,
) -> Option<&'a StageConfig> {
    match &event.stage {
        Some(name) => config.stage(name),
        None => {
            let mut of_account = config
                .stages
                .iter()
                .filter(|s| s.account() == event.account);
            match (of_account.next(), of_account.next()) {
                (Some(stage), None) => Some(stage),
                _ => None,
            }
        }
    }
}

/// Offers the content of `uri` to stage `to`. With `expected`, the folder must still
/// hold that content. The gate is checked against its stage's ledger: the gate of `to`
/// for an event; the stage before `to` (verified) for `ferry promote`, unless forced.
/// A content some stage has verified is not validated again; one no stage vouches for
/// is judged like an upload.
pub async fn promote<C: Connect>(
    uri: &S3Uri,
    expected: Option<&str>,
    to: &StageConfig,
    cause: &Cause,
    connect: &C,
    config: &ImporterConfig,
) -> Result<Decision, ImportError> {
    let folder = uri.to_string();
    let source = Remembered::new(connect.folder(uri), SMALL_FILES);
    let session = folder_slug(uri);
    // The gate stage's role is assumed with the others, while the folder is listed.
    let gate = gate_of(to, cause, config);
    let gate_hosting = futures_util::future::OptionFuture::from(
        gate.as_ref()
            .map(|(gate_stage, _)| connect.hosting(gate_stage, &session)),
    );
    let (entries, hosting, gate_hosting) =
        futures_util::join!(source.list(), connect.hosting(to, &session), gate_hosting);
    let entries = entries?;
    let identity = identify(uri, &entries);
    let not_promoted = |reason: String| Decision::NotPromoted {
        folder: folder.clone(),
        stage: to.label().to_owned(),
        fingerprint: expected.unwrap_or(&identity.fingerprint).to_owned(),
        reason,
    };
    if let Some(expected) = expected.filter(|e| *e != identity.fingerprint) {
        return Ok(not_promoted(format!(
            "the folder holds other content now ({}), not {expected}: upload it again, or promote the new content",
            identity.fingerprint
        )));
    }
    let vouched = match (gate, gate_hosting) {
        (Some((gate_stage, gate)), Some(gate_hosting)) => {
            let gate_hosting = gate_hosting?;
            let item = gate_hosting.ledger.get(&identity.fingerprint).await?;
            if !item.as_ref().is_some_and(|i| gate.opened_by(i)) {
                let has = item.map_or("no import of it".to_owned(), |i| {
                    format!("it {}", i.state.as_str())
                });
                return Ok(not_promoted(format!(
                    "{} waits for {}; {} has {has}{}",
                    to.label(),
                    gate.waits_for(),
                    gate_stage.label(),
                    if matches!(cause, Cause::Manual { .. }) {
                        " (--force promotes anyway)"
                    } else {
                        ""
                    }
                )));
            }
            // Validation judged the Region too: another Region is judged again.
            gate_stage.import_region == to.import_region
        }
        _ => false,
    };
    let hosting = hosting?;
    let existing = hosting.ledger.get(&identity.fingerprint).await;
    let ready = if vouched {
        Ok(Readiness::Ready)
    } else {
        readiness(&source, &entries, config).await
    };
    let mut content = Content::new(uri, &identity, &source, entries, ready);
    content.vouched = vouched;
    content.note = note(cause, to);
    in_stage(to, &hosting, existing, &mut content, connect, config).await
}

/// The stage and gate that must be open before `to` takes a content.
fn gate_of<'a>(
    to: &StageConfig,
    cause: &Cause,
    config: &'a ImporterConfig,
) -> Option<(&'a StageConfig, Gate)> {
    let gate = match cause {
        Cause::Upload | Cause::Manual { force: true, .. } => return None,
        Cause::Gate => to.gate.clone(),
        Cause::Manual { .. } => {
            let at = config.stages.iter().position(|s| s.name == to.name)?;
            let before = config.stages[..at].last()?;
            Gate::After {
                stage: before.label().to_owned(),
                released: false,
            }
        }
    };
    let Gate::After { stage, .. } = &gate else {
        return None;
    };
    let gate_stage = config.stage(stage)?;
    Some((gate_stage, gate))
}

/// Whether a folder no stage vouches for is complete.
async fn readiness<S: FolderSource>(
    source: &Remembered<S>,
    entries: &[crate::FileEntry],
    config: &ImporterConfig,
) -> Result<Readiness, crate::SourceError> {
    match listed_readiness(entries, config.ready_marker.as_deref()) {
        Listed::Decided(readiness) => Ok(readiness),
        Listed::ReadIndex(size) => index_readiness(source, entries, size).await,
    }
}

/// The note of the stage's first state change: why the content entered it.
fn note(cause: &Cause, to: &StageConfig) -> Option<String> {
    match cause {
        Cause::Upload => None,
        Cause::Gate => Some(format!("promoted: {}", to.gate.waits_for())),
        Cause::Manual { by, reason, force } => Some(format!(
            "ferry promote{} by {by}: {reason}",
            if *force { " --force" } else { "" }
        )),
    }
}
