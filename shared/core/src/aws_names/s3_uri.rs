//! `s3://bucket/prefix/` locations and Bedrock's `s3Uri` pattern
//! (`s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?`,
//! at most 1024 characters).

use std::fmt;

/// A folder in S3. The prefix is empty (the bucket root) or ends with `/`, so that
/// `models/llama` never matches `models/llama-2/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct S3Uri {
    /// The bucket's name.
    pub bucket: String,
    /// Empty for the bucket's root, otherwise ending with `/`.
    pub prefix: String,
}

/// Why a text is not an `s3://` folder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3UriError {
    /// It does not start with `s3://`.
    #[error("{0:?} is not an s3:// URI (expected s3://BUCKET/PREFIX/)")]
    NotS3(String),
    /// Nothing between `s3://` and the first `/`.
    #[error("{0:?} names no bucket (expected s3://BUCKET/PREFIX/)")]
    NoBucket(String),
}

const MAX_URI_LEN: usize = 1024;

impl S3Uri {
    /// Reads `s3://BUCKET/PREFIX`; a prefix without a trailing `/` gets one.
    pub fn parse(uri: &str) -> Result<Self, S3UriError> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| S3UriError::NotS3(uri.to_owned()))?;
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(S3UriError::NoBucket(uri.to_owned()));
        }
        Ok(Self::new(bucket, path))
    }

    /// A folder from a bucket and a key prefix; a trailing `/` is added when missing.
    pub fn new(bucket: &str, prefix: &str) -> Self {
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Self {
            bucket: bucket.to_owned(),
            prefix,
        }
    }

    /// Why Bedrock's `CreateModelImportJob` would refuse this URI, or `None` when it
    /// matches the documented pattern.
    pub(crate) fn bedrock_pattern_violation(&self) -> Option<String> {
        let uri = self.to_string();
        if uri.len() > MAX_URI_LEN {
            return Some(format!(
                "the URI is {} characters; Bedrock accepts at most {MAX_URI_LEN}",
                uri.len()
            ));
        }
        if let Some(problem) = bucket_violation(&self.bucket) {
            return Some(problem);
        }
        let path = self.prefix.strip_suffix('/').unwrap_or(&self.prefix);
        if path.is_empty() {
            return None;
        }
        for segment in path.split('/') {
            if segment.is_empty() {
                return Some(format!(
                    "the prefix {:?} has an empty path segment (\"//\"); rename the folder",
                    self.prefix
                ));
            }
            if let Some(bad) = segment.chars().find(|c| !is_path_char(*c)) {
                return Some(format!(
                    "the prefix {:?} contains {}, which Bedrock's s3Uri pattern does not allow; \
                     only letters, digits and - ! _ * ' ( ) . are allowed: move the model to a \
                     prefix without it",
                    self.prefix,
                    describe_char(bad)
                ));
            }
        }
        None
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

fn bucket_violation(bucket: &str) -> Option<String> {
    let valid_len = (3..=63).contains(&bucket.len());
    let edges_ok = bucket.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && bucket.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    let chars_ok = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    (!(valid_len && edges_ok && chars_ok)).then(|| {
        format!(
            "the bucket name {bucket:?} does not match Bedrock's pattern: 3 to 63 lowercase \
             letters, digits, '-' or '.', starting and ending with a letter or digit"
        )
    })
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-!_*'().".contains(c)
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        c => format!("{c:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_the_prefix() {
        let uri = S3Uri::parse("s3://bucket/models/llama").unwrap();
        assert_eq!(uri.bucket, "bucket");
        assert_eq!(uri.prefix, "models/llama/");
        assert_eq!(uri.to_string(), "s3://bucket/models/llama/");
        assert_eq!(S3Uri::parse("s3://bucket").unwrap().prefix, "");
        assert_eq!(S3Uri::parse("s3://bucket/").unwrap().prefix, "");
    }

    #[test]
    fn rejects_what_is_not_an_s3_uri() {
        assert!(matches!(S3Uri::parse("/tmp/x"), Err(S3UriError::NotS3(_))));
        assert!(matches!(
            S3Uri::parse("https://b/x"),
            Err(S3UriError::NotS3(_))
        ));
        assert!(matches!(
            S3Uri::parse("s3:///x"),
            Err(S3UriError::NoBucket(_))
        ));
    }

    #[test]
    fn checks_bedrocks_documented_pattern() {
        let ok = [
            "s3://model-artifacts-111122223333/mistral-model-weights/",
            "s3://a.b-c/x/Y_z/(1)/",
            "s3://abc",
        ];
        for uri in ok {
            assert_eq!(
                S3Uri::parse(uri).unwrap().bedrock_pattern_violation(),
                None,
                "{uri}"
            );
        }
        let bad = [
            ("s3://bucket/my model/", "a space"),
            ("s3://bucket/a+b/", "'+'"),
            ("s3://bucket/a=b/", "'='"),
            ("s3://bucket/a%20b/", "'%'"),
            ("s3://bucket/~user/", "'~'"),
            ("s3://bucket/a//b/", "empty path segment"),
            ("s3://Bucket/x/", "bucket name"),
            ("s3://ab/x/", "bucket name"),
            ("s3://-bucket/x/", "bucket name"),
        ];
        for (uri, expected) in bad {
            let problem = S3Uri::parse(uri).unwrap().bedrock_pattern_violation();
            let problem = problem.unwrap_or_else(|| panic!("{uri} should be refused"));
            assert!(problem.contains(expected), "{uri}: {problem}");
        }
        let long = format!("s3://bucket/{}/", "a".repeat(1020));
        assert!(S3Uri::parse(&long)
            .unwrap()
            .bedrock_pattern_violation()
            .unwrap()
            .contains("1024"));
    }
}
