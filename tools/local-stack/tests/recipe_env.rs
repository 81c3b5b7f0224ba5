//! The local-run recipe cannot rot: the environment committed for `cargo lambda watch`
//! in each function's `Cargo.toml` is the one the recipe's stack serves, and its names
//! are the deployment's (the same derivation as `ferry policies` and the templates).

use std::collections::BTreeMap;

use ferry_core::policies::Deployment;
use ferry_local_stack::recipe;
use ferry_local_stack::{EXTERNAL_ID, HOSTING, REGION, RESEARCH};
use ferry_testkit::moto::workspace_root;

fn committed(function: &str) -> BTreeMap<String, String> {
    let path = workspace_root()
        .join("functions")
        .join(function)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    recipe::committed_env(&text).into_iter().collect()
}

fn expected(env: Vec<(&'static str, String)>) -> BTreeMap<String, String> {
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[test]
fn the_committed_environments_are_the_recipes() {
    assert_eq!(committed("importer"), expected(recipe::importer_env()));
    assert_eq!(committed("tracker"), expected(recipe::tracker_env()));
}

#[test]
fn the_recipe_names_are_the_deployments() {
    let mut d = Deployment::new(RESEARCH, HOSTING, REGION, recipe::BUCKET, recipe::PREFIX);
    d.external_id = Some(EXTERNAL_ID.into());
    let d = d.validated().unwrap();
    let importer = expected(recipe::importer_env());
    assert_eq!(importer["FERRY_WATCH_PREFIXES"], d.source_uri());
    assert_eq!(importer["FERRY_HOSTING_ROLE_ARN"], d.automation_role_arn());
    assert_eq!(importer["FERRY_EXECUTION_ROLE_ARN"], d.execution_role_arn());
    assert_eq!(importer["FERRY_LEDGER_TABLE"], d.names.ledger_table);
    assert_eq!(importer["FERRY_ALERT_TOPIC_ARN"], d.alert_topic_arn());
    assert_eq!(importer["FERRY_EXTERNAL_ID"], EXTERNAL_ID);
    let tracker = expected(recipe::tracker_env());
    assert_eq!(tracker["FERRY_LEDGER_TABLE"], d.names.ledger_table);
    assert_eq!(tracker["FERRY_ALERT_TOPIC_ARN"], d.alert_topic_arn());
    assert_eq!(tracker["FERRY_EXECUTION_ROLE_ARN"], d.execution_role_arn());
    assert_eq!(tracker["FERRY_RESEARCH_ACCOUNT_ID"], d.research_account);

    // The tracker's profile assumes the tracker's role.
    let config = std::fs::read_to_string(workspace_root().join(recipe::AWS_CONFIG_FILE)).unwrap();
    assert!(
        config.contains(&format!("[profile {}]", recipe::TRACKER_PROFILE)),
        "{config}"
    );
    assert!(
        config.contains(&format!("role_arn = {}", d.tracker_role_arn())),
        "{config}"
    );
}

#[test]
fn every_sample_event_names_an_uploaded_folder() {
    let events = workspace_root().join("events");
    for entry in std::fs::read_dir(&events).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The tracker's inputs and the state-change events Ferry puts name no upload.
        if !name.ends_with(".json")
            || name.starts_with("tracker-")
            || name.starts_with("ferry-state-")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(recipe::BUCKET), "{name}");
        let folders = recipe::FOLDERS
            .iter()
            .filter(|(folder, _, _)| {
                let encoded = folder.replace('(', "%28").replace(')', "%29");
                text.contains(&format!("{}{folder}/", recipe::PREFIX))
                    || text.contains(&format!("{}{encoded}/", recipe::PREFIX))
            })
            .count();
        assert!(folders > 0, "{name} names no folder the recipe uploads");
    }
}
