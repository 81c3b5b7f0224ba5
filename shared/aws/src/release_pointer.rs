//! Release pointers as SSM parameters: `{prefix}/{model}/live` holds the live model
//! ARN (a String parameter, standard tier); every release is a new parameter version,
//! so GetParameterHistory shows the last 100 releases (SSM keeps 100 versions; the
//! ledger's history keeps them all).

use aws_config::SdkConfig;
use aws_sdk_ssm::types::ParameterType;
use ferry_core::import::PortError;
use ferry_core::release::{parameter_name, ReleasePointer};

use crate::config::OnFirstUse;
use crate::error::port_error;

/// SSM's limit on a parameter's description.
const DESCRIPTION_CHARS: usize = 1_024;

/// The release pointers of one hosting account and Region.
#[derive(Clone)]
pub struct SsmReleasePointer {
    client: OnFirstUse<aws_sdk_ssm::Client>,
    prefix: String,
}

impl SsmReleasePointer {
    /// With `client`, built already, and parameters under `prefix` (see
    /// `TrackerConfig`'s `after_import.parameter_prefix`).
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
