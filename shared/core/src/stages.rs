//! Stages: the hosting targets of one deployment, in order (`dev`, `staging`, `prod`),
//! each importing the same content itself, each behind a gate.

use std::fmt;

use crate::import::{ImportState, LedgerItem};

/// The most stages one deployment names (the research template has this many slots).
pub const MAX_STAGES: usize = 5;

/// When a stage imports a content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// When the folder is complete and valid (a single-stage deployment's only gate).
    Upload,
    /// When the stage `stage` has this content verified (smoke test passed), or released
    /// when `released`.
    After {
        /// An earlier stage's name.
        stage: String,
        /// Wait for the release, not only the smoke test.
        released: bool,
    },
    /// Only when someone runs `ferry promote --to STAGE`.
    Manual,
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gate::Upload => f.write_str("upload"),
            Gate::After {
                stage,
                released: false,
            } => write!(f, "after:{stage}"),
            Gate::After {
                stage,
                released: true,
            } => write!(f, "after:{stage}:released"),
            Gate::Manual => f.write_str("manual"),
        }
    }
}

impl Gate {
    /// Whether `item` (the gate stage's item of the content) opens this gate: verified
    /// means the smoke test passed (Verified, and later Released or Retired); released
    /// means it was live at some point.
    pub fn opened_by(&self, item: &LedgerItem) -> bool {
        let Gate::After { released, .. } = self else {
            return false;
        };
        let was_released = item.released_at.is_some()
            || matches!(item.state, ImportState::Released | ImportState::Retired);
        if *released {
            return was_released;
        }
        was_released || item.state == ImportState::Verified || item.smoke.passed == Some(true)
    }

    /// What the gate waits for, for messages (`dev's smoke test`).
    pub fn waits_for(&self) -> String {
        match self {
            Gate::Upload => "a complete, valid upload".into(),
            Gate::After {
                stage,
                released: false,
            } => format!("the content verified in {stage}"),
            Gate::After {
                stage,
                released: true,
            } => format!("the content released in {stage}"),
            Gate::Manual => "ferry promote".into(),
        }
    }
}

/// One stage as `FERRY_STAGES` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSpec {
    /// Lowercase letters, digits and hyphens, starting with a letter, 1 to 24 characters.
    pub name: String,
    /// When it imports.
    pub gate: Gate,
}

/// Whether `name` can name a stage (it goes into log lines, alerts and role sessions).
pub fn is_stage_name(name: &str) -> bool {
    (1..=24).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Parses `FERRY_STAGES`: `dev,staging=after:dev,prod=manual`. A stage without a gate
/// waits for the one before it (`after:<previous>`); the first imports on upload.
/// Every problem is returned, one sentence each.
pub fn parse_stages(raw: &str) -> Result<Vec<StageSpec>, Vec<String>> {
    let mut problems = Vec::new();
    let mut stages: Vec<StageSpec> = Vec::new();
    let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
    if parts.len() > MAX_STAGES {
        problems.push(format!(
            "FERRY_STAGES names {} stages; at most {MAX_STAGES}",
            parts.len()
        ));
        return Err(problems);
    }
    for part in parts {
        let (name, gate) = part.split_once('=').unwrap_or((part, ""));
        let (name, gate) = (name.trim(), gate.trim());
        if !is_stage_name(name) {
            problems.push(format!(
                "FERRY_STAGES: {:?} is not a stage name (lowercase letters, digits and hyphens, starting with a letter, at most 24)",
                crate::text::echo(name)
            ));
            continue;
        }
        if stages.iter().any(|s| s.name == name) {
            problems.push(format!("FERRY_STAGES names {name} twice"));
            continue;
        }
        match parse_gate(gate, &stages) {
            Ok(gate) => stages.push(StageSpec {
                name: name.to_owned(),
                gate,
            }),
            Err(problem) => problems.push(format!("FERRY_STAGES: stage {name}: {problem}")),
        }
    }
    if problems.is_empty() {
        Ok(stages)
    } else {
        Err(problems)
    }
}

/// One stage's gate, given the stages before it.
fn parse_gate(raw: &str, earlier: &[StageSpec]) -> Result<Gate, String> {
    let after = |stage: &str, released: bool| {
        if earlier.iter().any(|s| s.name == stage) {
            Ok(Gate::After {
                stage: stage.to_owned(),
                released,
            })
        } else {
            Err(format!(
                "after:{stage} must name an earlier stage ({})",
                if earlier.is_empty() {
                    "the first stage imports on upload or manual".to_owned()
                } else {
                    earlier
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
        }
    };
    match raw.split(':').collect::<Vec<_>>().as_slice() {
        [""] => match earlier.last() {
            Some(previous) => after(&previous.name, false),
            None => Ok(Gate::Upload),
        },
        ["upload"] => Ok(Gate::Upload),
        ["manual"] => Ok(Gate::Manual),
        ["after", stage] => after(stage, false),
        ["after", stage, "verified"] => after(stage, false),
        ["after", stage, "released"] => after(stage, true),
        _ => Err(format!(
            "gate {:?} is not upload, manual, after:STAGE or after:STAGE:released",
            crate::text::echo(raw)
        )),
    }
}

/// One content across the stages, for `ferry status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContentRow {
    /// The model (the folder's slug).
    pub model: String,
    /// The content's fingerprint.
    pub fingerprint: String,
    /// One cell per stage, in the stages' order; `None`: the stage has no import of it.
    pub stages: Vec<Option<StageCell>>,
}

/// A content's import in one stage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StageCell {
    /// Where the import stands.
    pub state: ImportState,
    /// The version's name in that stage (its job and imported-model name).
    pub version: String,
    /// Whether it is the model's live version in that stage.
    pub live: bool,
}

/// Each content the stages' ledgers hold (`ledgers[i]`: stage i's items), a row per
/// content, newest first, grouped by model.
pub fn across_stages(ledgers: &[Vec<LedgerItem>]) -> Vec<ContentRow> {
    // (model, fingerprint) → (first created, row)
    let mut rows: std::collections::BTreeMap<(String, String), (u64, ContentRow)> =
        Default::default();
    for (at, items) in ledgers.iter().enumerate() {
        let live: Vec<String> = models(items)
            .filter_map(|model| {
                let versions = crate::release::Versions::of(model, items.iter().cloned());
                versions.live().map(|l| l.fingerprint.clone())
            })
            .collect();
        // Foreign jobs and deleted models Ferry never imported are not contents.
        let contents = items
            .iter()
            .filter(|i| i.state != ImportState::Foreign && !i.fingerprint.contains(':'));
        for item in contents {
            let key = (item.slug.clone(), item.fingerprint.clone());
            let (created, row) = rows.entry(key).or_insert_with(|| {
                let row = ContentRow {
                    model: item.slug.clone(),
                    fingerprint: item.fingerprint.clone(),
                    stages: vec![None; ledgers.len()],
                };
                (item.created_at, row)
            });
            *created = (*created).min(item.created_at);
            row.stages[at] = Some(StageCell {
                state: item.state,
                version: item.name.clone(),
                live: live.contains(&item.fingerprint),
            });
        }
    }
    let mut rows: Vec<(u64, ContentRow)> = rows.into_values().collect();
    rows.sort_by(|(a_created, a), (b_created, b)| {
        (&a.model, std::cmp::Reverse(a_created)).cmp(&(&b.model, std::cmp::Reverse(b_created)))
    });
    rows.into_iter().map(|(_, row)| row).collect()
}

/// The models among `items`, each once.
fn models(items: &[LedgerItem]) -> impl Iterator<Item = &str> {
    let mut seen: Vec<&str> = items.iter().map(|i| i.slug.as_str()).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_and_gates(raw: &str) -> Vec<(String, String)> {
        parse_stages(raw)
            .unwrap()
            .into_iter()
            .map(|s| (s.name, s.gate.to_string()))
            .collect()
    }

    #[test]
    fn gates_default_to_the_previous_stage() {
        assert_eq!(
            names_and_gates("dev, staging ,prod=manual"),
            [
                ("dev".into(), "upload".into()),
                ("staging".into(), "after:dev".into()),
                ("prod".into(), "manual".into())
            ]
        );
        assert_eq!(
            names_and_gates("a,b=after:a:released,c=after:a:verified,d=upload"),
            [
                ("a".into(), "upload".into()),
                ("b".into(), "after:a:released".into()),
                ("c".into(), "after:a".into()),
                ("d".into(), "upload".into())
            ]
        );
    }

    #[test]
    fn every_bad_stage_is_named() {
        let problems = parse_stages("Dev,dev=after:prod,x=sometimes,prod=after:prod").unwrap_err();
        let text = problems.join("\n");
        for expected in [
            "\"Dev\" is not a stage name",
            "stage dev: after:prod must name an earlier stage (the first stage",
            "stage x: gate \"sometimes\"",
            "stage prod: after:prod must name an earlier stage",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
        assert_eq!(
            parse_stages("a,a").unwrap_err(),
            ["FERRY_STAGES names a twice"]
        );
        assert!(parse_stages("a,b,c,d,e,f").unwrap_err()[0].contains("at most 5"));
        assert!(parse_stages("").is_err());
        assert!(parse_stages(&"a".repeat(25)).is_err());
        assert!(!parse_stages("a\u{0}b").unwrap_err()[0].contains('\u{0}'));
    }

    #[test]
    fn each_content_is_one_row_with_a_cell_per_stage() {
        let item = |fp: &str, state, created| {
            let mut i = LedgerItem::new(fp, state, "s3://b/m/", "m", format!("m-{fp}"), created);
            if state == ImportState::Released {
                i.model_arn = Some(format!("arn:model/{fp}"));
                i.released_at = Some(created);
            }
            i
        };
        let dev = vec![
            item("aa", ImportState::Released, 10),
            item("bb", ImportState::Released, 20),
        ];
        let staging = vec![item("aa", ImportState::Verified, 30)];
        let prod = vec![LedgerItem::new(
            "job:x",
            ImportState::Foreign,
            "",
            "",
            "",
            1,
        )];
        let rows = across_stages(&[dev, staging, prod]);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].fingerprint, "bb", "newest first");
        let aa = &rows[1];
        let cell = |i: usize| aa.stages[i].as_ref().map(|c| (c.state, c.live));
        assert_eq!(
            cell(0),
            Some((ImportState::Released, false)),
            "bb is live in dev"
        );
        assert_eq!(cell(1), Some((ImportState::Verified, false)));
        assert_eq!(cell(2), None);
        assert!(rows[0].stages[0].as_ref().unwrap().live);
    }

    #[test]
    fn gates_open_on_the_stage_they_wait_for() {
        let mut item = LedgerItem::new("f", ImportState::Completed, "s3://b/m/", "m", "m-1", 0);
        let verified = Gate::After {
            stage: "dev".into(),
            released: false,
        };
        let released = Gate::After {
            stage: "dev".into(),
            released: true,
        };
        assert!(!verified.opened_by(&item) && !released.opened_by(&item));
        item.state = ImportState::Verified;
        assert!(verified.opened_by(&item) && !released.opened_by(&item));
        item.state = ImportState::Released;
        assert!(verified.opened_by(&item) && released.opened_by(&item));
        item.state = ImportState::SmokeFailed;
        assert!(!verified.opened_by(&item));
        assert!(!Gate::Manual.opened_by(&item) && !Gate::Upload.opened_by(&item));
    }
}
