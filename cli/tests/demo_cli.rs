//! `ferry demo` as the README runs it: every stage passes, the timeline names each one,
//! and the broken chain is explained.

use assert_cmd::Command;

#[test]
fn the_demo_runs_the_whole_pipeline_and_exits_0() {
    let out = Command::cargo_bin("ferry")
        .unwrap()
        .args(["demo", "--job-seconds", "0.5"])
        .timeout(std::time::Duration::from_secs(240))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for stage in [
        "stack",
        "functions",
        "upload",
        "events",
        "importer",
        "job",
        "alert",
        "cleanup plan",
        "broken chain",
    ] {
        assert!(
            stdout.lines().any(|l| l.contains(&format!("] {stage}"))),
            "no {stage} stage:\n{stdout}"
        );
    }
    assert!(stdout.contains("exactly one import job"));
    assert!(stdout.contains("kms-source"), "{stdout}");
    assert!(stdout.contains("Demo passed"));
    assert!(!stdout.contains("FAILED"));
}
