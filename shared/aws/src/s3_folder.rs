//! A model folder in S3: ListObjectsV2 (paginated) and ranged GetObject, nothing else.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Mutex, OnceLock};

use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::Client;
use ferry_core::{FileEntry, FolderSource, S3Uri, SourceError, SourceErrorKind};

use crate::error::classify;
use crate::seen_encryption::{kms_key_of, SeenEncryption, Version};

pub struct S3Folder {
    client: Client,
    uri: S3Uri,
    /// The client for the bucket's own region, when S3 said it lives elsewhere.
    regional: OnceLock<Client>,
    /// ETags from the listing: reads are conditional on them, so a folder that changes
    /// while it is read fails the read instead of mixing two versions.
    etags: Mutex<HashMap<String, String>>,
    /// Where reads leave the encryption they saw, for the access check.
    seen: Option<SeenEncryption>,
}

impl S3Folder {
    pub fn new(client: Client, uri: S3Uri) -> Self {
        Self {
            client,
            uri,
            regional: OnceLock::new(),
            etags: Mutex::default(),
            seen: None,
        }
    }

    /// Reads also record each object's encryption in `seen`.
    pub fn remembering(mut self, seen: SeenEncryption) -> Self {
        self.seen = Some(seen);
        self
    }

    fn client(&self) -> &Client {
        self.regional.get().unwrap_or(&self.client)
    }

    /// S3 answers 301 with `x-amz-bucket-region` when the bucket is in another region:
    /// switch to that region once instead of asking the user to.
    fn follow_region<E, R>(&self, err: &SdkError<E, R>) -> bool
    where
        R: RegionHint,
    {
        let Some(region) = err.raw_response().and_then(RegionHint::bucket_region) else {
            return false;
        };
        let current = self
            .client()
            .config()
            .region()
            .map(|r| r.as_ref().to_owned());
        if current.as_deref() == Some(region.as_str()) {
            return false;
        }
        tracing::info!(bucket = %self.uri.bucket, %region, "bucket is in another region; following");
        let config = self
            .client
            .config()
            .to_builder()
            .region(Region::new(region))
            .build();
        let _ = self.regional.set(Client::from_conf(config));
        true
    }

    async fn list_once(
        &self,
    ) -> Result<
        Vec<(FileEntry, Option<String>)>,
        SdkError<
            aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error,
            aws_sdk_s3::config::http::HttpResponse,
        >,
    > {
        let mut pages = self
            .client()
            .list_objects_v2()
            .bucket(&self.uri.bucket)
            .prefix(&self.uri.prefix)
            .into_paginator()
            .send();
        let mut entries = Vec::new();
        while let Some(page) = pages.next().await {
            for object in page?.contents() {
                let Some(path) = object
                    .key()
                    .and_then(|k| k.strip_prefix(self.uri.prefix.as_str()))
                else {
                    continue;
                };
                // Zero-byte "folder" markers that consoles create are not files.
                if path.is_empty() || path.ends_with('/') {
                    continue;
                }
                let size = object.size().unwrap_or(0).max(0) as u64;
                let etag = object.e_tag().map(str::to_owned);
                entries.push((
                    FileEntry {
                        path: path.to_owned(),
                        size,
                        version: etag.clone(),
                        modified: object
                            .last_modified()
                            .and_then(|t| u64::try_from(t.secs()).ok()),
                    },
                    etag,
                ));
            }
        }
        Ok(entries)
    }
}

impl FolderSource for S3Folder {
    fn describe(&self) -> String {
        self.uri.to_string()
    }

    fn s3_uri(&self) -> Option<&S3Uri> {
        Some(&self.uri)
    }

    async fn list(&self) -> Result<Vec<FileEntry>, SourceError> {
        let listed = match self.list_once().await {
            Err(err) if self.follow_region(&err) => self.list_once().await,
            other => other,
        };
        let listed = listed.map_err(|err| {
            let c = classify(&err);
            let hint = match c.kind {
                SourceErrorKind::AccessDenied => format!(
                    "; the caller needs s3:ListBucket on arn:aws:s3:::{} (for prefix {:?})",
                    self.uri.bucket, self.uri.prefix
                ),
                SourceErrorKind::NotFound => "; check the bucket name".to_owned(),
                _ => String::new(),
            };
            SourceError::new(
                c.kind,
                format!("could not list {}", self.uri),
                format!("{}{hint}", c.detail),
            )
        })?;
        let mut etags = self
            .etags
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut entries = Vec::with_capacity(listed.len());
        for (entry, etag) in listed {
            if let Some(etag) = etag {
                etags.insert(entry.path.clone(), etag);
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, SourceError> {
        if range.start >= range.end {
            return Ok(Vec::new());
        }
        let key = format!("{}{path}", self.uri.prefix);
        let etag = self
            .etags
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(path)
            .cloned();
        let context = || format!("could not read s3://{}/{key}", self.uri.bucket);
        let output = self
            .client()
            .get_object()
            .bucket(&self.uri.bucket)
            .key(&key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .set_if_match(etag)
            .send()
            .await
            .map_err(|err| {
                let c = classify(&err);
                let (kind, hint) = match (c.kind, c.code.as_deref(), c.status) {
                    (_, Some("PreconditionFailed"), _) | (_, _, Some(412)) => (
                        SourceErrorKind::Other,
                        "; the object changed after it was listed: validate again once the upload is complete",
                    ),
                    (SourceErrorKind::AccessDenied, _, _) => (
                        SourceErrorKind::AccessDenied,
                        "; the caller needs s3:GetObject on the object (and kms:Decrypt if it is SSE-KMS encrypted)",
                    ),
                    (kind, _, _) => (kind, ""),
                };
                SourceError::new(kind, context(), format!("{}{hint}", c.detail))
            })?;
        if let (Some(seen), Some(etag)) = (&self.seen, output.e_tag()) {
            if let Ok(kms_key) = kms_key_of(output.server_side_encryption(), output.ssekms_key_id())
            {
                let version = Version {
                    etag: etag.to_owned(),
                    modified: output
                        .last_modified()
                        .and_then(|t| u64::try_from(t.secs()).ok()),
                };
                seen.read(&self.uri.bucket, &key, version, kms_key);
            }
        }
        read_body(output.body, range, context).await
    }
}

/// The body of a ranged GET, into one buffer of the range's size: collecting the chunks
/// and copying them out held the range twice (a 64 MiB index peaked at 128 MiB). A
/// server that ignores the range (some S3-compatible ones answer 200 with the whole
/// object) is refused at the first byte beyond it, not read to the end.
async fn read_body(
    mut body: aws_sdk_s3::primitives::ByteStream,
    range: Range<u64>,
    context: impl Fn() -> String,
) -> Result<Vec<u8>, SourceError> {
    let expected = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
    let mut bytes = Vec::with_capacity(expected.min(MAX_PREALLOCATION));
    while let Some(chunk) = body.try_next().await.map_err(|err| {
        SourceError::new(
            SourceErrorKind::Transient,
            context(),
            format!("the body was cut off: {err}"),
        )
    })? {
        if chunk.len() > expected - bytes.len() {
            return Err(SourceError::new(
                SourceErrorKind::Other,
                context(),
                format!(
                    "S3 sent more than the {expected} bytes asked for (bytes {}-{}): the endpoint ignores ranged reads",
                    range.start,
                    range.end - 1
                ),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Reserved up front at most: validation's own caps bound every range it asks for, but
/// the reservation does not rely on that.
const MAX_PREALLOCATION: usize = 64 * 1024 * 1024;

/// Reads S3's `x-amz-bucket-region` from a raw response.
pub trait RegionHint {
    fn bucket_region(&self) -> Option<String>;
}

impl RegionHint for aws_sdk_s3::config::http::HttpResponse {
    fn bucket_region(&self) -> Option<String> {
        let moved = matches!(self.status().as_u16(), 301 | 400);
        moved
            .then(|| self.headers().get("x-amz-bucket-region").map(str::to_owned))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::primitives::ByteStream;

    #[tokio::test]
    async fn a_body_of_the_range_is_read_whole() {
        let body = ByteStream::from(vec![7u8; 100]);
        let bytes = read_body(body, 10..110, || "reading".into()).await.unwrap();
        assert_eq!(bytes, vec![7u8; 100]);
        assert_eq!(bytes.capacity(), 100, "one buffer of the range's size");
    }

    #[tokio::test]
    async fn a_body_longer_than_the_range_is_refused() {
        let body = ByteStream::from(vec![0u8; 101]);
        let err = read_body(body, 0..100, || "reading k".into())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("ignores ranged reads"), "{err}");
    }
}
