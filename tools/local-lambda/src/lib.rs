//! A local AWS Lambda Runtime API (`/2018-06-01/runtime/...`) on loopback that runs a
//! function's real binary as Lambda does: the process long-polls `invocation/next`,
//! posts a response or an error, and is reused for the next event (a warm container).
//! It measures the cold start (process spawn to its first `next` request), can kill
//! the process mid-invocation, and re-spawns it: what Ferry's end-to-end tests, demo
//! and benchmarks need, without Docker or an AWS account.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use ferry_serve::{OnAcceptError, Server};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The handler's result.
    Response(Value),
    /// The handler failed (`invocation/{id}/error`): Lambda's error document.
    Error(Value),
}

struct Pending {
    id: String,
    event: Value,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Pending>,
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    next_id: u64,
    spawned_at: Option<Instant>,
    first_next: Option<Duration>,
    init_error: Option<Value>,
    /// What the process wrote (stdout and stderr), line by line, not yet taken.
    logs: Vec<String>,
}

type Shared = Arc<(Mutex<Inner>, Notify)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.0.lock().unwrap_or_else(|p| p.into_inner())
}

/// One function: the Runtime API server and (once spawned) its process.
pub struct LocalLambda {
    name: String,
    address: SocketAddr,
    shared: Shared,
    /// Stops serving the Runtime API when the function is dropped.
    _server: Server,
    child: Option<Child>,
    binary: Option<(PathBuf, Vec<(String, String)>)>,
    /// The tasks reading the process's stdout and stderr.
    readers: Vec<JoinHandle<()>>,
}

impl Drop for LocalLambda {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
    }
}

impl LocalLambda {
    /// Starts the Runtime API for a function named `name` on a free loopback port.
    pub async fn start(name: &str) -> Result<LocalLambda> {
        let shared: Shared = Arc::new((Mutex::new(Inner::default()), Notify::new()));
        let serving = shared.clone();
        let function = name.to_owned();
        let server = Server::start(0, OnAcceptError::Skip, move |request| {
            let shared = serving.clone();
            let function = function.clone();
            async move { route(&shared, &function, request).await }
        })
        .await?;
        Ok(LocalLambda {
            name: name.to_owned(),
            address: server.address(),
            shared,
            _server: server,
            child: None,
            binary: None,
            readers: Vec::new(),
        })
    }

    /// `127.0.0.1:PORT`: the function's `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        self.address.to_string()
    }

    /// Starts `binary` as the function's process with Lambda's environment plus `env`.
    pub fn spawn(&mut self, binary: &Path, env: &[(String, String)]) -> Result<()> {
        if !binary.exists() {
            bail!(
                "{} not found: build the functions first (cargo build --bins)",
                binary.display()
            );
        }
        self.binary = Some((binary.to_owned(), env.to_vec()));
        self.respawn()
    }

    /// Starts the process again (after [`LocalLambda::kill`]): a new cold start.
    pub fn respawn(&mut self) -> Result<()> {
        let (binary, env) = self
            .binary
            .clone()
            .ok_or_else(|| anyhow!("{}: nothing spawned yet", self.name))?;
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", self.runtime_api())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        {
            let mut inner = lock(&self.shared);
            inner.spawned_at = Some(Instant::now());
            inner.first_next = None;
            inner.init_error = None;
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        self.readers.clear();
        if let Some(out) = child.stdout.take() {
            self.readers.push(collect_lines(out, self.shared.clone()));
        }
        if let Some(err) = child.stderr.take() {
            self.readers.push(collect_lines(err, self.shared.clone()));
        }
        self.child = Some(child);
        Ok(())
    }

    /// Kills the process, as a crash or a timeout would; an invocation in flight
    /// never gets its answer.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        let mut inner = lock(&self.shared);
        inner.waiting.clear();
    }

    /// Time from spawn to the process's first `invocation/next`: its init (cold start).
    pub fn init_duration(&self) -> Option<Duration> {
        lock(&self.shared).first_next
    }

    /// The lines the process wrote since the last call (its logs and EMF metrics) that
    /// have been read from its pipes so far.
    pub fn take_logs(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.shared).logs)
    }

    /// Stops the process and returns every line it wrote not taken yet, to the end of its
    /// output: lines written just before an answer may still be in the pipe when
    /// [`LocalLambda::take_logs`] runs, these are not.
    pub async fn stop_and_take_logs(&mut self) -> Vec<String> {
        self.kill().await;
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.await;
        }
        self.take_logs()
    }

    /// The document the process posted to `init/error` (`{errorType, errorMessage}`), if
    /// its last start failed that way.
    pub fn init_error(&self) -> Option<Value> {
        lock(&self.shared).init_error.clone()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Waits until the process asks for its first event (init done), or `timeout`.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(init) = self.init_duration() {
                return Ok(init);
            }
            if let Some(error) = lock(&self.shared).init_error.clone() {
                bail!("{} failed to initialize: {error}", self.name);
            }
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait()? {
                    bail!("{} exited during init: {status}", self.name);
                }
            }
            if Instant::now() > deadline {
                bail!("{} did not ask for an event within {timeout:?}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Queues `event` and waits for its outcome (`timeout`: the function's timeout).
    pub async fn invoke(&mut self, event: Value, timeout: Duration) -> Result<Outcome> {
        let (sender, receiver) = oneshot::channel();
        {
            let mut inner = lock(&self.shared);
            inner.next_id += 1;
            let id = format!("00000000-0000-4000-8000-{:012x}", inner.next_id);
            inner.waiting.insert(id.clone(), sender);
            inner.queue.push_back(Pending { id, event });
        }
        self.shared.1.notify_waiters();
        self.shared.1.notify_one();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut receiver = receiver;
        loop {
            tokio::select! {
                biased;
                answer = &mut receiver => {
                    return match answer {
                        Ok(outcome) => Ok(outcome),
                        Err(_) => bail!("{}: the process went away during the invocation", self.name),
                    };
                }
                _ = tokio::time::sleep(Duration::from_millis(20)) => {
                    let exited = match &mut self.child {
                        Some(child) => child.try_wait()?,
                        None => None,
                    };
                    if let Some(status) = exited {
                        // Lambda would retry the event on a new process; the caller decides.
                        lock(&self.shared).queue.clear();
                        self.child = None;
                        bail!("{} exited during the invocation: {status}", self.name);
                    }
                    if tokio::time::Instant::now() > deadline {
                        // Lambda ends a timed-out invocation by ending its process.
                        self.kill().await;
                        lock(&self.shared).queue.clear();
                        bail!("{}: no answer within {timeout:?}; the process was stopped", self.name);
                    }
                }
            }
        }
    }

    /// Kills the process with SIGKILL after `delay`, from outside (while an invocation
    /// runs): a crash mid-event.
    pub fn kill_after(&self, delay: Duration) -> Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| anyhow!("{}: no process", self.name))?;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tokio::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .await;
        });
        Ok(())
    }
}

/// Keeps the process's output; echoed to stderr too when `FERRY_LOCAL_LAMBDA_ECHO` is set.
fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    shared: Shared,
) -> JoinHandle<()> {
    use tokio::io::AsyncBufReadExt;
    let echo = std::env::var_os("FERRY_LOCAL_LAMBDA_ECHO").is_some();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if echo {
                eprintln!("{line}");
            }
            lock(&shared).logs.push(line);
        }
    })
}

fn reply(status: u16, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

async fn route(
    shared: &Shared,
    function: &str,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (&method, parts.as_slice()) {
        (&Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => {
            next(shared, function).await
        }
        (
            &Method::POST,
            ["2018-06-01", "runtime", "invocation", id, kind @ ("response" | "error")],
        ) => {
            let document: Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
            let outcome = if *kind == "response" {
                Outcome::Response(document)
            } else {
                Outcome::Error(document)
            };
            match lock(shared).waiting.remove(*id) {
                Some(sender) => {
                    let _ = sender.send(outcome);
                    reply(202, Bytes::from_static(b"{\"status\":\"OK\"}"))
                }
                None => reply(
                    404,
                    Bytes::from_static(b"{\"errorType\":\"InvalidRequestID\"}"),
                ),
            }
        }
        (&Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
            let document: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            lock(shared).init_error = Some(document);
            reply(202, Bytes::from_static(b"{\"status\":\"OK\"}"))
        }
        _ => reply(404, Bytes::from_static(b"{\"errorType\":\"NotFound\"}")),
    }
}

/// Long-polls until an event is queued, as Lambda's `next` does.
async fn next(shared: &Shared, function: &str) -> Response<Full<Bytes>> {
    {
        let mut inner = lock(shared);
        if inner.first_next.is_none() {
            inner.first_next = inner.spawned_at.map(|t| t.elapsed());
        }
    }
    loop {
        let notified = shared.1.notified();
        if let Some(pending) = lock(shared).queue.pop_front() {
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                + 900_000;
            let mut response = reply(200, Bytes::from(pending.event.to_string()));
            let headers = response.headers_mut();
            let values = [
                ("lambda-runtime-aws-request-id", pending.id.clone()),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    format!("arn:aws:lambda:us-east-1:000000000000:function:{function}"),
                ),
                (
                    "lambda-runtime-trace-id",
                    format!(
                        "Root=1-00000000-{}",
                        pending.id.replace('-', "")[..24].to_owned()
                    ),
                ),
                ("content-type", "application/json".to_owned()),
            ];
            for (name, value) in values {
                if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            return response;
        }
        notified.await;
    }
}

/// A binary of this workspace's build (`target/<profile>/NAME`), found from the running
/// executable: tests live in `target/<profile>/deps/`, binaries next to them.
pub fn workspace_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent();
    while let Some(d) = dir {
        let candidate = d.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
        if d.file_name().is_some_and(|n| n == "target") {
            break;
        }
        dir = d.parent();
    }
    bail!(
        "{name} is not built next to {}: run cargo build --bins first",
        exe.display()
    )
}
