//! moto_server on loopback, from the project's venv (`scripts/setup` installs it).
//! Each test binary starts its own server on a free port and kills it when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts moto_server on 127.0.0.1. Fails with a message naming `scripts/setup`
    /// when the venv is missing: these tests never skip silently.
    pub fn start() -> Result<Self> {
        Self::start_on(free_port()?)
    }

    /// Starts moto_server on `127.0.0.1:port` (the local-run recipe's fixed endpoint).
    pub fn start_on(port: u16) -> Result<Self> {
        let binary = moto_binary();
        if !binary.exists() {
            bail!(
                "{} not found: run scripts/setup (it creates the project's venv with moto), \
                 or set FERRY_MOTO_SERVER",
                binary.display()
            );
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            bail!("127.0.0.1:{port} is already in use: is another local stack running?");
        }
        // moto's own app, served one request at a time (see scripts/moto_serial.py).
        let python = binary.with_file_name("python");
        let launcher = workspace_root().join("scripts/moto_serial.py");
        let child = Command::new(&python)
            .arg(&launcher)
            .args(["127.0.0.1", &port.to_string()])
            .env("MOTO_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} {}", python.display(), launcher.display()))?;
        let mut server = Self { child, port };
        server.wait_ready()?;
        Ok(server)
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

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("moto_server exited early with {status}");
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "moto_server did not listen on 127.0.0.1:{} within 60 s",
            self.port
        )
    }
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

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
