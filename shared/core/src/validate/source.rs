//! The port through which validation reads a model folder: list files with sizes,
//! read a byte range. Implementations: [`LocalFolder`] here, S3 in `ferry-aws`.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::aws_names::s3_uri::S3Uri;

/// One file of a model folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the folder, `/`-separated (`model.safetensors`, `original/params.json`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// What identifies this version of the file: the S3 ETag (or version id); `None`
    /// for local files.
    pub version: Option<String>,
    /// Last modification, in seconds since the Unix epoch, when known.
    pub modified: Option<u64>,
}

impl FileEntry {
    /// A file of `size` bytes at `path`, with no version or modification time.
    pub fn new(path: impl Into<String>, size: u64) -> Self {
        Self {
            path: path.into(),
            size,
            version: None,
            modified: None,
        }
    }
}

/// A model folder that can be listed and read by byte range.
pub trait FolderSource: Sync {
    /// How the folder is named in reports: a local path or `s3://bucket/prefix/`.
    fn describe(&self) -> String;

    /// The S3 location, when the folder is one (its URI is then checked against
    /// Bedrock's `s3Uri` pattern).
    fn s3_uri(&self) -> Option<&S3Uri> {
        None
    }

    /// Every file under the folder, recursively, in any order.
    fn list(&self) -> impl Future<Output = Result<Vec<FileEntry>, SourceError>> + Send;

    /// Whether the listed `path` stands for a name that is not UTF-8 (its undecodable
    /// bytes shown as `\xNN`): such a file cannot become an S3 key under its name. Only local
    /// folders have such names.
    fn has_undecodable_name(&self, _path: &str) -> bool {
        false
    }

    /// Exactly the bytes of `range` of the file at `path` (a path from [`Self::list`]).
    fn read_range(
        &self,
        path: &str,
        range: Range<u64>,
    ) -> impl Future<Output = Result<Vec<u8>, SourceError>> + Send;
}

/// A folder whose small files (config, index) are read once: the importer's readiness
/// check, its prefetch and validation all ask for them, and each read is a round trip.
/// Only whole reads of the named files are kept, and only up to [`REMEMBER_MAX_BYTES`]
/// each, so a huge index is still held once at a time.
pub struct Remembered<S> {
    source: S,
    names: &'static [&'static str],
    kept: Mutex<BTreeMap<String, Vec<u8>>>,
}

/// The largest file [`Remembered`] keeps (published indexes are tens of kilobytes).
pub const REMEMBER_MAX_BYTES: u64 = 1024 * 1024;

impl<S: FolderSource> Remembered<S> {
    /// Remembers whole reads of `names` (paths relative to the folder).
    pub fn new(source: S, names: &'static [&'static str]) -> Self {
        Self {
            source,
            names,
            kept: Mutex::default(),
        }
    }

    /// Reads `path` whole (`size` bytes, from the listing) so that later reads of it are
    /// free; a failure is left for the later read to report.
    pub async fn prefetch(&self, path: &str, size: u64) {
        if size <= REMEMBER_MAX_BYTES {
            let _ = self.read_range(path, 0..size).await;
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: FolderSource> FolderSource for Remembered<S> {
    fn describe(&self) -> String {
        self.source.describe()
    }

    fn s3_uri(&self) -> Option<&S3Uri> {
        self.source.s3_uri()
    }

    async fn list(&self) -> Result<Vec<FileEntry>, SourceError> {
        self.source.list().await
    }

    fn has_undecodable_name(&self, path: &str) -> bool {
        self.source.has_undecodable_name(path)
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, SourceError> {
        let whole = range.start == 0 && range.end <= REMEMBER_MAX_BYTES;
        if !whole || !self.names.contains(&path) {
            return self.source.read_range(path, range).await;
        }
        if let Some(bytes) = self
            .kept()
            .get(path)
            .filter(|b| b.len() as u64 == range.end)
        {
            return Ok(bytes.clone());
        }
        let bytes = self.source.read_range(path, range).await?;
        self.kept().insert(path.to_owned(), bytes.clone());
        Ok(bytes)
    }
}

/// Why a folder could not be read. The kind lets callers decide: a missing folder is
/// the user's mistake, a transient failure is worth a retry, nothing here is a verdict
/// on the model.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{context}: {detail}")]
pub struct SourceError {
    /// The class of failure, which decides whether a retry can help.
    pub kind: SourceErrorKind,
    /// What was being done: "could not list s3://b/p/", "could not read config.json".
    pub context: String,
    /// The cause and, where known, what to do about it.
    pub detail: String,
}

/// The class of a [`SourceError`]: what the caller should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceErrorKind {
    /// The folder, bucket or file does not exist.
    NotFound,
    /// Credentials or permissions refuse the read.
    AccessDenied,
    /// Throttling, a timeout, a 5xx: the same read may succeed later.
    Transient,
    /// Anything else (a file that changed size while read, an I/O error).
    Other,
}

impl SourceError {
    /// A `kind` error: `context` says what was being done, `detail` the cause.
    pub fn new(
        kind: SourceErrorKind,
        context: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            context: context.into(),
            detail: detail.into(),
        }
    }

    /// Whether the same read may succeed later (the kind is
    /// [`SourceErrorKind::Transient`]).
    pub fn is_retryable(&self) -> bool {
        self.kind == SourceErrorKind::Transient
    }
}

/// A model folder on the local file system.
#[derive(Debug, Clone)]
pub struct LocalFolder {
    root: PathBuf,
    /// Listed paths with a part that is not UTF-8 (shown lossily) → the real path.
    undecodable: Arc<Mutex<BTreeMap<String, PathBuf>>>,
}

/// Directories deeper than this are not descended into: a model folder is flat or
/// nearly so, and the bound keeps a hostile tree from taking the walk forever.
const MAX_DEPTH: usize = 8;

impl LocalFolder {
    /// Opens `root`, which must exist and be a directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, SourceError> {
        let root = root.into();
        let context = || format!("could not open {}", root.display());
        match std::fs::metadata(&root) {
            Ok(meta) if meta.is_dir() => Ok(Self {
                root,
                undecodable: Arc::default(),
            }),
            Ok(_) => Err(SourceError::new(
                SourceErrorKind::NotFound,
                context(),
                "it is not a folder; give the folder that holds config.json",
            )),
            Err(err) => Err(io_error(context(), &err)),
        }
    }

    /// The folder's path, as given to [`LocalFolder::open`].
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl FolderSource for LocalFolder {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    async fn list(&self) -> Result<Vec<FileEntry>, SourceError> {
        let root = self.root.clone();
        let (entries, undecodable) = blocking(move || {
            let mut walk = Walk::default();
            walk.dir(&root, "", false, 0)?;
            Ok((walk.entries, walk.undecodable))
        })
        .await?;
        *self
            .undecodable
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = undecodable;
        Ok(entries)
    }

    fn has_undecodable_name(&self, path: &str) -> bool {
        self.undecodable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(path)
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, SourceError> {
        let real = self
            .undecodable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .cloned();
        let full = real.unwrap_or_else(|| self.root.join(path));
        let path = path.to_owned();
        blocking(move || {
            let context = || format!("could not read {path}");
            let len = usize::try_from(range.end.saturating_sub(range.start)).map_err(|_| {
                SourceError::new(SourceErrorKind::Other, context(), "range too large")
            })?;
            let mut file = std::fs::File::open(&full).map_err(|e| io_error(context(), &e))?;
            file.seek(SeekFrom::Start(range.start))
                .map_err(|e| io_error(context(), &e))?;
            let mut buf = vec![0u8; len];
            file.read_exact(&mut buf).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    SourceError::new(
                        SourceErrorKind::Other,
                        context(),
                        format!(
                            "the file ended before byte {}; was it changed while Ferry read it?",
                            range.end
                        ),
                    )
                } else {
                    io_error(context(), &e)
                }
            })?;
            Ok(buf)
        })
        .await
    }
}

/// A file name as UTF-8, with the bytes of a name that is not escaped as `\xNN`.
fn escaped_name(name: &std::ffi::OsStr) -> String {
    use std::fmt::Write;
    if let Some(text) = name.to_str() {
        return text.to_owned();
    }
    let mut out = String::new();
    for chunk in name.as_encoded_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02X}");
        }
    }
    out
}

/// A recursive listing: the entries, and the real paths of those whose listed name is
/// an escaped rendering of one that is not UTF-8.
#[derive(Default)]
struct Walk {
    entries: Vec<FileEntry>,
    undecodable: BTreeMap<String, PathBuf>,
}

impl Walk {
    /// `rel`, or `rel (2)`, `rel (3)`...: the first not listed yet, so that a rendered
    /// name never stands for two files.
    fn unique(&self, rel: String) -> String {
        let taken = |name: &str| {
            self.undecodable.contains_key(name) || self.entries.iter().any(|e| e.path == name)
        };
        if !taken(&rel) {
            return rel;
        }
        (2..)
            .map(|n| format!("{rel} ({n})"))
            .find(|candidate| !taken(candidate))
            .unwrap_or(rel)
    }

    fn dir(
        &mut self,
        dir: &Path,
        prefix: &str,
        lossy: bool,
        depth: usize,
    ) -> Result<(), SourceError> {
        let context = || format!("could not list {}", dir.display());
        let read_dir = std::fs::read_dir(dir).map_err(|e| io_error(context(), &e))?;
        for entry in read_dir {
            let entry = entry.map_err(|e| io_error(context(), &e))?;
            // A name that is not UTF-8 is listed with its bytes escaped (`\xFF`), not
            // skipped: it still counts in the size and is judged, and validation says it
            // cannot be uploaded. Escapes (not U+FFFD) keep two such names apart.
            let file_name = entry.file_name();
            let name = escaped_name(&file_name);
            let lossy = lossy || file_name.to_str().is_none();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let file_type = entry.file_type().map_err(|e| io_error(context(), &e))?;
            if file_type.is_dir() {
                if depth < MAX_DEPTH {
                    self.dir(&entry.path(), &rel, lossy, depth + 1)?;
                }
                continue;
            }
            // Follows symlinked files (a Hugging Face cache snapshot is all symlinks);
            // symlinked directories are not followed, so loops are impossible.
            match std::fs::metadata(entry.path()) {
                Ok(meta) if meta.is_file() => {
                    let rel = if lossy {
                        let rel = self.unique(rel);
                        self.undecodable.insert(rel.clone(), entry.path());
                        rel
                    } else {
                        rel
                    };
                    self.entries.push(FileEntry {
                        path: rel,
                        size: meta.len(),
                        version: None,
                        modified: meta
                            .modified()
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map(|d| d.as_secs()),
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {} // dangling symlink
                Err(e) => return Err(io_error(context(), &e)),
            }
        }
        Ok(())
    }
}

fn io_error(context: String, err: &std::io::Error) -> SourceError {
    let kind = match err.kind() {
        std::io::ErrorKind::NotFound => SourceErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => SourceErrorKind::AccessDenied,
        _ => SourceErrorKind::Other,
    };
    let detail = match kind {
        SourceErrorKind::NotFound => "no such file or folder".to_owned(),
        SourceErrorKind::AccessDenied => "permission denied".to_owned(),
        _ => err.to_string(),
    };
    SourceError::new(kind, context, detail)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(work).await.map_err(|join| {
        SourceError::new(
            SourceErrorKind::Other,
            "local file read",
            format!("worker failed: {join}"),
        )
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_recursively_with_relative_paths_and_reads_exact_ranges() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
        std::fs::create_dir(dir.path().join("original")).unwrap();
        std::fs::write(dir.path().join("original/params.json"), b"0123456789").unwrap();

        let folder = LocalFolder::open(dir.path()).unwrap();
        let mut files = folder.list().await.unwrap();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let listed: Vec<(&str, u64)> = files.iter().map(|f| (f.path.as_str(), f.size)).collect();
        assert_eq!(listed, [("config.json", 2), ("original/params.json", 10)]);
        assert!(files
            .iter()
            .all(|f| f.modified.is_some() && f.version.is_none()));
        let bytes = folder
            .read_range("original/params.json", 3..7)
            .await
            .unwrap();
        assert_eq!(bytes, b"3456");
        let past_end = folder
            .read_range("original/params.json", 8..12)
            .await
            .unwrap_err();
        assert_eq!(past_end.kind, SourceErrorKind::Other);
    }

    #[tokio::test]
    async fn remembered_reads_each_named_small_file_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("w.safetensors"), b"0123456789").unwrap();
        let folder = Remembered::new(LocalFolder::open(dir.path()).unwrap(), &["config.json"]);
        folder.prefetch("config.json", 2).await;
        std::fs::write(dir.path().join("config.json"), b"[]").unwrap();
        // Served from memory: the file changed on disk, the read did not.
        assert_eq!(folder.read_range("config.json", 0..2).await.unwrap(), b"{}");
        std::fs::write(dir.path().join("w.safetensors"), b"abcdefghij").unwrap();
        assert_eq!(
            folder.read_range("w.safetensors", 0..2).await.unwrap(),
            b"ab"
        );
    }

    #[test]
    fn open_rejects_missing_paths_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = LocalFolder::open(dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.kind, SourceErrorKind::NotFound);
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let not_dir = LocalFolder::open(&file).unwrap_err();
        assert!(not_dir.to_string().contains("not a folder"), "{not_dir}");
    }
}
