//! AWS's latency on loopback: a proxy in front of moto and the Bedrock emulator holds
//! every request for a fixed delay before passing it on, and records when each call
//! began and ended, so the bench can tell how many round trips sat one after the
//! other before a call (the critical path) and which calls they were.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ferry_serve::{OnAcceptError, Server};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

/// One call as the proxy saw it: `Service.Operation`, and when it arrived and was
/// answered (from the proxy's creation).
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub operation: String,
    pub start_ms: f64,
    pub end_ms: f64,
}

/// The calls of every proxy of one [`Delayed`] set, in arrival order.
#[derive(Clone)]
pub struct CallLog {
    origin: Instant,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl CallLog {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            calls: Arc::default(),
        }
    }

    fn ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.origin).as_secs_f64() * 1e3
    }

    /// Milliseconds from the log's origin to now.
    pub fn now_ms(&self) -> f64 {
        self.ms(Instant::now())
    }

    /// Takes the calls recorded so far.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A proxy per upstream endpoint, all adding `delay` and logging to one [`CallLog`].
pub struct Delayed {
    pub log: CallLog,
    servers: Vec<Server>,
}

impl Delayed {
    /// No proxy yet; add them with [`Delayed::proxy`].
    pub fn new() -> Self {
        Self {
            log: CallLog::new(),
            servers: Vec::new(),
        }
    }

    /// A proxy to `upstream` (`http://127.0.0.1:PORT`); returns its own endpoint.
    pub async fn proxy(&mut self, upstream: &str, delay: Duration) -> Result<String> {
        let target: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("{upstream} is not http://IP:PORT"))?;
        let log = self.log.clone();
        let server = Server::start(0, OnAcceptError::Skip, move |request| {
            forward(request, target, delay, log.clone())
        })
        .await?;
        let endpoint = format!("http://{}", server.address());
        self.servers.push(server);
        Ok(endpoint)
    }
}

/// Holds the request for `delay`, then passes it to `target` on a new connection.
async fn forward(
    request: Request<Incoming>,
    target: SocketAddr,
    delay: Duration,
    log: CallLog,
) -> Response<Full<Bytes>> {
    let start = Instant::now();
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let operation = operation_of(&parts, &body);
    tokio::time::sleep(delay.saturating_sub(start.elapsed())).await;
    let answer = match pass_on(Request::from_parts(parts, Full::new(body)), target).await {
        Ok(answer) => answer,
        Err(e) => {
            let mut answer = Response::new(Full::new(Bytes::from(format!("proxy: {e:#}"))));
            *answer.status_mut() = StatusCode::BAD_GATEWAY;
            answer
        }
    };
    let call = Call {
        operation,
        start_ms: log.ms(start),
        end_ms: log.now_ms(),
    };
    log.calls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(call);
    answer
}

async fn pass_on(
    request: Request<Full<Bytes>>,
    target: SocketAddr,
) -> Result<Response<Full<Bytes>>> {
    let stream = TcpStream::connect(target).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let answer = sender.send_request(request).await?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// `Service.Operation` of an SDK request: the service from SigV4's credential scope,
/// the operation from the JSON target, the query's `Action`, or the REST route.
pub fn operation_of(parts: &hyper::http::request::Parts, body: &[u8]) -> String {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let service = header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("?")
        .to_owned();
    let operation = if let Some(target) = header("x-amz-target") {
        target.rsplit('.').next().unwrap_or(target).to_owned()
    } else if let Some(action) = form_action(body) {
        action
    } else {
        rest_operation(&service, parts)
    };
    format!("{}.{operation}", service_name(&service))
}

fn form_action(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_owned)
}

/// The REST operations Ferry's functions call (S3, Bedrock, CloudWatch's CBOR route).
fn rest_operation(service: &str, parts: &hyper::http::request::Parts) -> String {
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let method = parts.method.as_str();
    if let Some(op) = path.rsplit_once("/operation/").map(|(_, op)| op) {
        return op.to_owned();
    }
    match (service, method) {
        ("s3", "GET") if query.contains("list-type=2") => "ListObjectsV2".into(),
        ("s3", "GET") if query.split('&').any(|q| q == "policy" || q == "policy=") => {
            "GetBucketPolicy".into()
        }
        ("s3", "GET") => "GetObject".into(),
        ("s3", "HEAD") => "HeadObject".into(),
        ("bedrock", "POST") if path.ends_with("/model-import-jobs") => {
            "CreateModelImportJob".into()
        }
        ("bedrock", "GET") if path.ends_with("/model-import-jobs") => "ListModelImportJobs".into(),
        ("bedrock", "GET") if path.contains("/model-import-jobs/") => "GetModelImportJob".into(),
        ("bedrock", "GET") if path.ends_with("/imported-models") => "ListImportedModels".into(),
        ("bedrock", "GET") if path.contains("/imported-models/") => "GetImportedModel".into(),
        ("bedrock", "DELETE") => "DeleteImportedModel".into(),
        ("bedrock", "GET") if path.contains("/tags") || query.contains("resourceARN") => {
            "ListTagsForResource".into()
        }
        ("bedrock", "POST") if path.ends_with("/listTagsForResource") => {
            "ListTagsForResource".into()
        }
        ("bedrock", "POST") if path.ends_with("/invoke") => "InvokeModel".into(),
        _ => format!("{method} {path}"),
    }
}

/// The SDK's service names as the functions' `ApiCalls` lines spell them.
fn service_name(scope: &str) -> &str {
    match scope {
        "s3" => "S3",
        "sts" => "STS",
        "dynamodb" => "DynamoDB",
        "bedrock" => "Bedrock",
        "sns" => "SNS",
        "iam" => "IAM",
        "kms" => "KMS",
        "organizations" => "Organizations",
        "events" => "EventBridge",
        "monitoring" => "CloudWatch",
        "ssm" => "SSM",
        other => other,
    }
}

/// What the proxy saw of one invocation, up to the first call named `until`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Path {
    /// From the invocation to the first `until` request's arrival.
    pub wall_ms: f64,
    /// `wall_ms` over the injected delay.
    pub wall_round_trips: f64,
    /// The longest chain of calls, each sent after the previous one was answered, that
    /// ended before `until` was sent, plus `until` itself.
    pub sequential_calls: usize,
    /// That chain, in order.
    pub chain: Vec<String>,
    /// Calls made before `until` was sent.
    pub calls_before: usize,
}

/// The critical path to the first `until` call among `calls`, for an invocation
/// that began at `invoked_ms`; `None` when no such call was made.
pub fn path_to(calls: &[Call], until: &str, invoked_ms: f64, delay: Duration) -> Option<Path> {
    let target = calls
        .iter()
        .filter(|c| c.operation == until)
        .min_by(|a, b| a.start_ms.total_cmp(&b.start_ms))?;
    let mut before: Vec<&Call> = calls
        .iter()
        .filter(|c| c.start_ms >= invoked_ms && c.end_ms <= target.start_ms)
        .collect();
    before.sort_by(|a, b| a.end_ms.total_cmp(&b.end_ms));
    // longest[i]: the longest chain ending with before[i]; previous[i]: its predecessor.
    let mut longest = vec![1usize; before.len()];
    let mut previous: Vec<Option<usize>> = vec![None; before.len()];
    for i in 0..before.len() {
        for j in 0..i {
            if before[j].end_ms <= before[i].start_ms && longest[j] + 1 > longest[i] {
                longest[i] = longest[j] + 1;
                previous[i] = Some(j);
            }
        }
    }
    let mut chain = Vec::new();
    let mut at = (0..before.len()).max_by_key(|&i| longest[i]);
    while let Some(i) = at {
        chain.push(before[i].operation.clone());
        at = previous[i];
    }
    chain.reverse();
    chain.push(target.operation.clone());
    let wall_ms = target.start_ms - invoked_ms;
    Some(Path {
        wall_ms,
        wall_round_trips: wall_ms / (delay.as_secs_f64() * 1e3).max(f64::MIN_POSITIVE),
        sequential_calls: chain.len(),
        chain,
        calls_before: before.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(operation: &str, start_ms: f64, end_ms: f64) -> Call {
        Call {
            operation: operation.into(),
            start_ms,
            end_ms,
        }
    }

    #[test]
    fn the_critical_path_counts_calls_that_waited_for_each_other() {
        let calls = [
            call("S3.ListObjectsV2", 0.0, 20.0),
            call("STS.AssumeRole", 0.0, 21.0),
            call("S3.GetObject", 21.0, 41.0),
            call("S3.GetObject", 21.0, 42.0),
            call("DynamoDB.GetItem", 22.0, 42.0),
            call("S3.GetObject", 43.0, 63.0),
            call("Bedrock.CreateModelImportJob", 64.0, 84.0),
            call("SNS.Publish", 90.0, 110.0),
        ];
        let path = path_to(
            &calls,
            "Bedrock.CreateModelImportJob",
            0.0,
            Duration::from_millis(20),
        )
        .unwrap();
        assert_eq!(path.sequential_calls, 4);
        assert_eq!(path.chain[0], "S3.ListObjectsV2");
        assert_eq!(path.calls_before, 6);
        assert!((path.wall_round_trips - 3.2).abs() < 1e-9);
        assert!(path_to(&calls, "Bedrock.Nothing", 0.0, Duration::from_millis(20)).is_none());
    }
}
