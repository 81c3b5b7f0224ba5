//! Every AWS client Ferry builds goes through `ferry_aws::config`, where the API-call
//! counter is attached: a client built with `Client::new` would make calls that no
//! `ApiCalls` metric shows.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_production_code_builds_an_uncounted_client() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["shared/aws/src", "cli/src", "functions"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 10, "{files:?}");
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests below `#[cfg(test)]` may build mock clients their own way.
        let production = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in production.lines().enumerate() {
            let uncounted = line.contains("::Client::new(")
                || (line.contains("::Client::from_conf(") && !file.ends_with("config.rs"));
            if uncounted {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "build clients with ferry_aws::config's constructors:\n{}",
        offenders.join("\n")
    );
}
