//! A read-only S3 endpoint on loopback that serves a local folder as a bucket:
//! ListObjectsV2, HeadObject and GetObject with ranges and If-Match, enough for
//! Ferry's `S3Folder`. Sparse files make shards of any size cost no disk; the server
//! counts the object bytes it sends (GetObject bodies; listings are not counted), so
//! "bytes read" is measured on the wire, not only by Ferry's own count.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use ferry_serve::{OnAcceptError, Server};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};

/// Every object's Last-Modified: the bench does not depend on upload times.
const MODIFIED_XML: &str = "2026-01-01T00:00:00.000Z";
const MODIFIED_HTTP: &str = "Thu, 01 Jan 2026 00:00:00 GMT";
const PAGE: usize = 1000;
const MAX_BODY: u64 = 64 << 20;

#[derive(Default)]
pub struct Traffic {
    pub body_bytes: AtomicU64,
    pub requests: AtomicU64,
}

/// The endpoint serving one folder; dropping it stops the server.
pub struct FolderS3 {
    pub endpoint: String,
    pub traffic: Arc<Traffic>,
    _server: Server,
}

struct Served {
    bucket: String,
    root: PathBuf,
    traffic: Arc<Traffic>,
}

impl FolderS3 {
    /// Serves `root` as bucket `bucket` (keys are paths below `root`).
    pub async fn start(bucket: &str, root: &Path) -> Result<FolderS3> {
        let traffic = Arc::new(Traffic::default());
        let served = Arc::new(Served {
            bucket: bucket.to_owned(),
            root: root.to_owned(),
            traffic: traffic.clone(),
        });
        let server = Server::start(0, OnAcceptError::Stop, move |req| {
            let served = served.clone();
            async move { answer(&served, req) }
        })
        .await?;
        Ok(FolderS3 {
            endpoint: format!("http://{}", server.address()),
            traffic,
            _server: server,
        })
    }

    pub fn body_bytes(&self) -> u64 {
        self.traffic.body_bytes.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.traffic.requests.load(Ordering::Relaxed)
    }
}

fn answer(served: &Served, req: Request<Incoming>) -> Response<Full<Bytes>> {
    served.traffic.requests.fetch_add(1, Ordering::Relaxed);
    let path = decode(req.uri().path().trim_start_matches('/'));
    let (bucket, key) = path.split_once('/').unwrap_or((path.as_str(), ""));
    if bucket != served.bucket {
        return error(StatusCode::NOT_FOUND, "NoSuchBucket");
    }
    let result = match (req.method(), key) {
        (&Method::GET, "") => list(served, req.uri().query().unwrap_or("")),
        (&Method::GET | &Method::HEAD, key) => object(served, key, &req),
        _ => Ok(error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed")),
    };
    result.unwrap_or_else(|e| {
        eprintln!("folder-s3: {e:#}");
        error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
    })
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| decode(&v.replace('+', " ")))
    })
}

fn error(status: StatusCode, code: &str) -> Response<Full<Bytes>> {
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

fn etag(size: u64) -> String {
    format!("\"{size:032x}\"")
}

/// Every file below `dir`, as keys relative to the root, sorted.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let entry = entry?;
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else {
            let key = path
                .strip_prefix(root)?
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            out.push((key, entry.metadata()?.len()));
        }
    }
    Ok(())
}

fn list(served: &Served, query: &str) -> Result<Response<Full<Bytes>>> {
    let prefix = query_value(query, "prefix").unwrap_or_default();
    let after = query_value(query, "continuation-token").unwrap_or_default();
    let mut objects = Vec::new();
    walk(&served.root, &served.root, &mut objects)?;
    objects.sort();
    let matching: Vec<&(String, u64)> = objects
        .iter()
        .filter(|(key, _)| key.starts_with(&prefix) && key.as_str() > after.as_str())
        .collect();
    let page = &matching[..matching.len().min(PAGE)];
    let truncated = matching.len() > PAGE;
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>{}</Name><Prefix>{prefix}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{PAGE}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        served.bucket,
        page.len()
    );
    for (key, size) in page {
        xml.push_str(&format!(
            "<Contents><Key>{key}</Key><LastModified>{MODIFIED_XML}</LastModified><ETag>{}</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            etag(*size).replace('"', "&quot;")
        ));
    }
    if let (true, Some((last, _))) = (truncated, page.last()) {
        xml.push_str(&format!(
            "<NextContinuationToken>{last}</NextContinuationToken>"
        ));
    }
    xml.push_str("</ListBucketResult>");
    Ok(Response::new(Full::new(Bytes::from(xml))))
}

fn object(served: &Served, key: &str, req: &Request<Incoming>) -> Result<Response<Full<Bytes>>> {
    let path = served.root.join(key);
    if key.split('/').any(|part| part == "..") || !path.is_file() {
        return Ok(error(StatusCode::NOT_FOUND, "NoSuchKey"));
    }
    let size = std::fs::metadata(&path)?.len();
    let tag = etag(size);
    if let Some(wanted) = req.headers().get("if-match") {
        if wanted.as_bytes() != tag.as_bytes() {
            return Ok(error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed"));
        }
    }
    let range = req
        .headers()
        .get("range")
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
    let (start, end) = match range {
        Some((a, b)) if a < size && a <= b => (a, b.min(size.saturating_sub(1))),
        Some(_) => return Ok(error(StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange")),
        None => (0, size.saturating_sub(1)),
    };
    let length = if size == 0 { 0 } else { end - start + 1 };
    let builder = Response::builder()
        .header("ETag", &tag)
        .header("Last-Modified", MODIFIED_HTTP)
        .header("Accept-Ranges", "bytes");
    if req.method() == Method::HEAD {
        return Ok(builder
            .header("Content-Length", size)
            .body(Full::new(Bytes::new()))?);
    }
    if length > MAX_BODY {
        // A whole shard is never what Ferry asks for; refuse instead of allocating it.
        return Ok(error(StatusCode::BAD_REQUEST, "RangeTooLargeForBench"));
    }
    let mut body = vec![0; usize::try_from(length)?];
    let mut file = std::fs::File::open(&path)?;
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut body)?;
    served
        .traffic
        .body_bytes
        .fetch_add(length, Ordering::Relaxed);
    let builder = if range.is_some() {
        builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header("Content-Range", format!("bytes {start}-{end}/{size}"))
    } else {
        builder
    };
    Ok(builder.body(Full::new(Bytes::from(body)))?)
}
