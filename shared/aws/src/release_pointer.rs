//! Release pointers as SSM parameters: `{prefix}/{model}/live` holds the live model
//! ARN (a String parameter, standard tier); every release is a new parameter version,
//! so GetParameterHistory is the release log.

use aws_config::SdkConfig;
use aws_sdk_ssm::types::ParameterType;
use ferry_core::import::PortError;
use ferry_core::release::{parameter_name, ReleasePointer};

use crate::config::OnFirstUse;
use crate::error::port_error;

/// The variable that names the parameters' prefix.
pub const PREFIX_ENV: &str = "FERRY_RELEASE_PARAMETER_PREFIX";
/// The prefix when the variable is unset.
pub const DEFAULT_PREFIX: &str = "/ferry";
/// SSM allows 15 levels; the model's name and `live` take two.
const MAX_PREFIX_LEVELS: usize = 13;
/// Well inside SSM's 1011 characters for the name with its ARN prefix.
const MAX_PREFIX_CHARS: usize = 500;
/// SSM's limit on a parameter's description.
const DESCRIPTION_CHARS: usize = 1_024;

/// The parameters' prefix from `get` ([`PREFIX_ENV`], else [`DEFAULT_PREFIX`]), or why
/// SSM would refuse names under it.
pub fn prefix_from_env(get: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let prefix = get(PREFIX_ENV).filter(|p| !p.is_empty());
    let prefix = prefix.as_deref().unwrap_or(DEFAULT_PREFIX);
    check_prefix(prefix).map_err(|why| {
        format!(
            "{PREFIX_ENV}: {:?} {why}",
            ferry_core::text::truncate(prefix, 100)
        )
    })?;
    Ok(prefix.trim_end_matches('/').to_owned())
}

/// SSM's rules for hierarchical parameter names, applied to the prefix.
fn check_prefix(prefix: &str) -> Result<(), &'static str> {
    let Some(path) = prefix.strip_prefix('/') else {
        return Err("must start with / (a parameter hierarchy)");
    };
    let path = path.trim_end_matches('/');
    if prefix.chars().count() > MAX_PREFIX_CHARS {
        return Err("is too long (500 characters at most)");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-/".contains(c);
    if !path.chars().all(allowed) {
        return Err("may hold only letters, digits, _ . - and /");
    }
    let levels: Vec<&str> = path.split('/').collect();
    if path.is_empty() || levels.iter().any(|l| l.is_empty()) {
        return Err("needs at least one level and no empty level (//)");
    }
    if levels.len() > MAX_PREFIX_LEVELS {
        return Err("is too deep (13 levels at most: SSM allows 15 with the model and live)");
    }
    let first = path.to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err("must not begin with aws or ssm (reserved by SSM)");
    }
    Ok(())
}

/// The release pointers of one hosting account and Region.
#[derive(Clone)]
pub struct SsmReleasePointer {
    client: OnFirstUse<aws_sdk_ssm::Client>,
    prefix: String,
}

impl SsmReleasePointer {
    /// With `client`, built already, and parameters under `prefix` (see
    /// [`prefix_from_env`]).
    pub fn new(client: aws_sdk_ssm::Client, prefix: impl Into<String>) -> Self {
        Self {
            client: OnFirstUse::ready(client),
            prefix: prefix.into(),
        }
    }

    /// With a client built from `config` on the first call.
    pub fn on_first_use(config: &SdkConfig, prefix: impl Into<String>) -> Self {
        Self {
            client: OnFirstUse::new(config, crate::config::ssm_client),
            prefix: prefix.into(),
        }
    }

    /// The parameter of `model`.
    pub fn parameter(&self, model: &str) -> String {
        parameter_name(&self.prefix, model)
    }
}

impl ReleasePointer for SsmReleasePointer {
    async fn live(&self, model: &str) -> Result<Option<String>, PortError> {
        let result = self
            .client
            .get()
            .get_parameter()
            .name(self.parameter(model))
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .parameter()
                .and_then(|p| p.value())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Ok(None)
            }
            Err(e) => Err(port_error("ssm:GetParameter", &e)),
        }
    }

    async fn set_live(&self, model: &str, model_arn: &str, version: &str) -> Result<(), PortError> {
        let description = format!("Ferry: the live version of {model} is {version}");
        self.client
            .get()
            .put_parameter()
            .name(self.parameter(model))
            .value(model_arn)
            .r#type(ParameterType::String)
            .overwrite(true)
            .description(ferry_core::text::truncate(&description, DESCRIPTION_CHARS))
            .send()
            .await
            .map_err(|e| port_error("ssm:PutParameter", &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(value: &str) -> Result<String, String> {
        prefix_from_env(|_| Some(value.to_owned()))
    }

    #[test]
    fn the_prefix_follows_ssm_naming_rules() {
        assert_eq!(prefix_from_env(|_| None).as_deref(), Ok("/ferry"));
        assert_eq!(prefix("").as_deref(), Ok("/ferry"));
        assert_eq!(prefix("/team-a/ferry/").as_deref(), Ok("/team-a/ferry"));
        for bad in [
            "ferry",
            "/",
            "/a//b",
            "/aws/ferry",
            "/SSM-x",
            "/a b",
            "/a:b",
        ] {
            assert!(prefix(bad).is_err(), "{bad}");
        }
        assert!(prefix(&"/a".repeat(14)).is_err(), "too deep");
        assert!(prefix(&"/a".repeat(13)).is_ok());
        assert!(prefix(&format!("/{}", "a".repeat(600))).is_err());
    }
}
