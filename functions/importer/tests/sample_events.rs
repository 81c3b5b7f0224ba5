//! The payloads in `events/` are what the importer is sent: each must parse to the
//! objects it describes.

use ferry_core::import::events::{parse_body, parse_invocation, Events, Invocation};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn keys(invocation: Invocation) -> Vec<String> {
    match invocation {
        Invocation::Events(events) if !events.messages.is_empty() => vec!["(sqs)".into()],
        Invocation::Events(events) => events
            .objects
            .into_iter()
            .map(|o| format!("{}/{}", o.bucket, o.key))
            .collect(),
        Invocation::Ignored(_) => vec!["(ignored)".into()],
    }
}

#[test]
fn every_sample_event_parses_to_its_objects() {
    let bucket = "model-artifacts-111122223333";
    assert_eq!(
        keys(parse_invocation(&load("s3-put.json")).unwrap()),
        [format!(
            "{bucket}/fine-tunes/llama-3.1-8b-ft(v2)/model-00004-of-00004.safetensors"
        )]
    );
    assert_eq!(
        keys(parse_invocation(&load("eventbridge-object-created.json")).unwrap()),
        [format!("{bucket}/fine-tunes/qwen3-8b-support/config.json")]
    );
    assert_eq!(
        keys(parse_invocation(&load("sns-s3.json")).unwrap()),
        [format!(
            "{bucket}/fine-tunes/mistral-7b-legal/tokenizer.json"
        )]
    );
    let Invocation::Events(Events { messages, .. }) =
        parse_invocation(&load("sqs-batch.json")).unwrap()
    else {
        panic!("sqs-batch.json is an SQS batch");
    };
    let bodies: Vec<Vec<String>> = messages
        .iter()
        .map(|m| keys(parse_body(&m.body).unwrap()))
        .collect();
    assert_eq!(
        bodies,
        [
            vec![format!("{bucket}/fine-tunes/qwen3-8b-support/config.json")],
            vec![format!(
                "{bucket}/fine-tunes/llama-3.1-8b-ft(v2)/model-00004-of-00004.safetensors"
            )],
            vec![format!(
                "{bucket}/fine-tunes/mistral-7b-legal/tokenizer.json"
            )],
            vec!["(ignored)".to_owned()],
        ]
    );
}

/// The README's configuration table names every variable the importer reads.
#[test]
fn the_readme_documents_every_variable() {
    let readme =
        std::fs::read_to_string(format!("{}/../../README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    for (name, _, _) in ferry_core::import::config::VARIABLES {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README lacks {name}"
        );
    }
}
