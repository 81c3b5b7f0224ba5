//! Binary and deployment-package sizes: each binary as Lambda's custom runtime takes
//! it, a zip holding one `bootstrap` (deflate, as `cargo lambda build --output-format
//! zip` writes it).

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{ensure, Context, Result};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Size {
    pub binary_bytes: u64,
    /// `None` for the CLI (not deployed as a function) and in quick mode.
    pub zip_bytes: Option<u64>,
}

/// `zip`: also the deployment zips (release runs; a debug binary's zip means nothing).
pub fn measure(zip: bool) -> Result<BTreeMap<String, Size>> {
    let mut out = BTreeMap::new();
    let scratch = tempfile::tempdir()?;
    for (name, deployed) in [
        ("ferry-importer", true),
        ("ferry-tracker", true),
        ("ferry", false),
    ] {
        let binary = ferry_local_lambda::workspace_binary(name)?;
        let binary_bytes = std::fs::metadata(&binary)?.len();
        let zip_bytes = if deployed && zip {
            let zip = scratch.path().join(format!("{name}.zip"));
            // Python's zipfile, deflate level 6: no zip crate for one measurement.
            let status = Command::new("python3")
                .args([
                    "-c",
                    "import sys, zipfile\n\
                     with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, compresslevel=6) as z:\n\
                     \x20   z.write(sys.argv[2], 'bootstrap')",
                ])
                .arg(&zip)
                .arg(&binary)
                .status()
                .context("running python3 to zip the binary")?;
            ensure!(status.success(), "zipping {name} failed: {status}");
            Some(std::fs::metadata(&zip)?.len())
        } else {
            None
        };
        out.insert(
            name.to_owned(),
            Size {
                binary_bytes,
                zip_bytes,
            },
        );
    }
    Ok(out)
}
