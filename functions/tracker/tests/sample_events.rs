//! The tracker's payloads in `events/` parse to their actions, and the README
//! documents every variable the tracker reads.

use ferry_core::track::{parse_action, Action};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn every_sample_event_parses_to_its_action() {
    for (file, action) in [
        ("tracker-sweep-schedule.json", Action::Sweep),
        ("tracker-sweep.json", Action::Sweep),
        ("tracker-cleanup.json", Action::Cleanup { dry_run: false }),
        (
            "tracker-cleanup-dry-run.json",
            Action::Cleanup { dry_run: true },
        ),
    ] {
        assert_eq!(parse_action(&load(file)).unwrap(), action, "{file}");
    }
}

#[test]
fn the_readme_documents_every_variable() {
    let readme =
        std::fs::read_to_string(format!("{}/../../README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    for (name, _, _) in ferry_core::track::config::VARIABLES {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README lacks {name}"
        );
    }
}
