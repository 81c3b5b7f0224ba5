//! moto_server on loopback, from the project's venv (`scripts/setup` installs it).
//! Each test starts its own server on a port the kernel picks and kills it when dropped.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts moto_server on a port the kernel picks. Fails with a message naming
    /// `scripts/setup` when the venv is missing: these tests never skip silently.
    pub fn start() -> Result<Self> {
        Self::launch(0)
    }

    /// Starts moto_server on `127.0.0.1:port` (the local-run recipe's fixed endpoint).
    pub fn start_on(port: u16) -> Result<Self> {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            bail!("127.0.0.1:{port} is already in use: is another local stack running?");
        }
        Self::launch(port)
    }

    /// The launcher binds before it prints the port, so the port read back is the one
    /// its own socket holds: no window in which a parallel test can take it.
    fn launch(port: u16) -> Result<Self> {
        let binary = moto_binary();
        if !binary.exists() {
            bail!(
                "{} not found: run scripts/setup (it creates the project's venv with moto), \
                 or set FERRY_MOTO_SERVER",
                binary.display()
            );
        }
        // moto's own app, served one request at a time (see scripts/moto_serial.py).
        let python = binary.with_file_name("python");
        let launcher = workspace_root().join("scripts/moto_serial.py");
        let mut child = Command::new(&python)
            .arg(&launcher)
            .args(["127.0.0.1", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} {}", python.display(), launcher.display()))?;
        match read_bound_port(&mut child) {
            Ok(port) => Ok(Self { child, port }),
            Err(error) => {
                // Whether it had exited by itself, before this kill.
                let exited = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                match exited {
                    Some(status) if port != 0 => Err(error.context(format!(
                        "moto_server exited with {status}: is 127.0.0.1:{port} in use?"
                    ))),
                    _ => Err(error),
                }
            }
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SDK configuration for this server: its endpoint, us-east-1, static test
    /// credentials (moto's default account), no shared config files.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let http = aws_smithy_http_client::Builder::new().build_http();
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }
}

/// Reads the port a loopback server `child` printed as its first stdout line once its
/// socket listens (moto's launcher, the TLS test server). A thread keeps draining
/// stdout afterwards so the server never blocks on a full pipe.
pub fn read_bound_port(child: &mut Child) -> Result<u16> {
    let stdout = child
        .stdout
        .take()
        .context("the server's stdout was not piped")?;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = sender.send(lines.next());
        for _ in lines {}
    });
    let first = receiver
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| anyhow!("the server did not report its port within 60 s"))?;
    let line = match first {
        Some(line) => line.context("reading the server's stdout")?,
        None => bail!("the server exited before it listened"),
    };
    line.trim()
        .parse()
        .with_context(|| format!("the server printed {line:?}, not a port"))
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    // This crate lives at `shared/testkit`.
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn moto_binary() -> PathBuf {
    std::env::var_os("FERRY_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/moto_server"))
}
