//! Binary and deployment-package sizes: each binary as Lambda's custom runtime takes
//! it, a zip holding one `bootstrap` (deflate, as `cargo lambda build --output-format
//! zip` writes it). The x86_64 binaries of this build, and the functions' arm64
//! `bootstrap`s as the templates deploy them (`cargo lambda build --release --arm64`,
//! each function's own crate: what `sam build` produces).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Size {
    pub binary_bytes: u64,
    /// `None` for the CLI (not deployed as a function) and in quick mode.
    pub zip_bytes: Option<u64>,
    /// The function's arm64 `bootstrap` and its zip (`None`: the CLI, quick mode).
    pub arm64_binary_bytes: Option<u64>,
    pub arm64_zip_bytes: Option<u64>,
}

/// `zip`: also the deployment zips (release runs; a debug binary's zip means nothing).
/// `arm64`: `cargo lambda build`'s output folder (`target/lambda`), holding
/// `NAME/bootstrap` for each function.
pub fn measure(zip: bool, arm64: Option<&Path>) -> Result<BTreeMap<String, Size>> {
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
            Some(zipped(
                &binary,
                &scratch.path().join(format!("{name}.zip")),
            )?)
        } else {
            None
        };
        let (arm64_binary_bytes, arm64_zip_bytes) = match arm64.filter(|_| deployed) {
            Some(dir) => {
                let bootstrap: PathBuf = dir.join(name).join("bootstrap");
                let bytes = std::fs::metadata(&bootstrap)
                    .with_context(|| {
                        format!(
                            "{}: build it with cargo lambda build --release --arm64",
                            bootstrap.display()
                        )
                    })?
                    .len();
                let zip = zipped(
                    &bootstrap,
                    &scratch.path().join(format!("{name}-arm64.zip")),
                )?;
                (Some(bytes), Some(zip))
            }
            None => (None, None),
        };
        out.insert(
            name.to_owned(),
            Size {
                binary_bytes,
                zip_bytes,
                arm64_binary_bytes,
                arm64_zip_bytes,
            },
        );
    }
    Ok(out)
}

/// Zips `binary` as `bootstrap` into `zip`; its size.
fn zipped(binary: &Path, zip: &Path) -> Result<u64> {
    // Python's zipfile, deflate level 6: no zip crate for one measurement.
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, compresslevel=6) as z:\n\
             \x20   z.write(sys.argv[2], 'bootstrap')",
        ])
        .arg(zip)
        .arg(binary)
        .status()
        .context("running python3 to zip the binary")?;
    ensure!(
        status.success(),
        "zipping {} failed: {status}",
        binary.display()
    );
    Ok(std::fs::metadata(zip)?.len())
}
