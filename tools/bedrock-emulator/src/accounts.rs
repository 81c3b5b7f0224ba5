//! Which account a request belongs to when the emulator serves several: the account
//! of its SigV4 access key, as moto's STS GetCallerIdentity answers. moto issues the
//! keys of assumed roles and knows their account; it does not check signatures, so the
//! key id alone is enough to ask.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};

use crate::artifacts::{base_config, ArtifactSource};
use crate::wire::ApiError;
use crate::Shared;

/// The served accounts' states and what resolves a request's account.
pub(crate) struct Accounts {
    by_id: BTreeMap<String, Shared>,
    /// `None`: one account, every request is its.
    identity: Option<(ArtifactSource, String)>,
    /// Access key id -> account; an assumed role's key never changes account.
    keys: Mutex<HashMap<String, String>>,
}

impl Accounts {
    /// `identity` (moto's endpoint and the region) is required with more than one account.
    pub(crate) fn new(
        by_id: BTreeMap<String, Shared>,
        identity: Option<(ArtifactSource, String)>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            by_id.len() == 1 || identity.is_some(),
            "serving several accounts needs the artifacts endpoint (moto's STS tells a key's account)"
        );
        let several = by_id.len() > 1;
        Ok(Self {
            by_id,
            identity: identity.filter(|_| several),
            keys: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn get(&self, account: &str) -> Option<&Shared> {
        self.by_id.get(account)
    }

    /// The state of the account whose credentials signed the request (`authorization`
    /// is its `Authorization` header).
    pub(crate) async fn of(&self, authorization: Option<&str>) -> Result<Shared, ApiError> {
        let Some((source, region)) = &self.identity else {
            return self
                .by_id
                .values()
                .next()
                .cloned()
                .ok_or_else(invalid_token);
        };
        let key = authorization
            .and_then(access_key_id)
            .ok_or_else(invalid_token)?;
        let known = lock(&self.keys).get(key).cloned();
        let account = match known {
            Some(account) => account,
            None => {
                let account = caller_account(source, region, key)
                    .await
                    .ok_or_else(invalid_token)?;
                lock(&self.keys).insert(key.to_owned(), account.clone());
                account
            }
        };
        self.by_id.get(&account).cloned().ok_or_else(|| {
            ApiError::new(
                403,
                "AccessDeniedException",
                format!("This emulator does not serve account {account}."),
            )
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What AWS answers to a key it does not know.
fn invalid_token() -> ApiError {
    ApiError::new(
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
}

/// `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, ...`
fn access_key_id(authorization: &str) -> Option<&str> {
    let (_, rest) = authorization.split_once("Credential=")?;
    let (key, _) = rest.split_once('/')?;
    (!key.is_empty()).then_some(key)
}

/// The account moto's STS names for access key `key`.
async fn caller_account(source: &ArtifactSource, region: &str, key: &str) -> Option<String> {
    let config = base_config(source, region)
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            key,
            "unchecked",
            None,
            None,
            "request-key",
        )))
        .build();
    let identity = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .ok()?;
    identity.account().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::access_key_id;

    #[test]
    fn the_key_id_comes_from_the_credential_scope() {
        let header = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00";
        assert_eq!(access_key_id(header), Some("ASIAEXAMPLE"));
        assert_eq!(access_key_id("Bearer abc"), None);
        assert_eq!(access_key_id("AWS4-HMAC-SHA256 Credential=/x"), None);
    }
}
