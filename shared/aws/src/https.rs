//! The one HTTPS client every SDK client of a process shares.
//!
//! The SDK's own client builds a TLS configuration, trust store included, for every
//! SDK client it is given to (to validate it) and again on the first request: on a
//! Lambda cold start that was most of Ferry's init. Here the trust store is Mozilla's
//! roots compiled into the binary (`webpki-root-certs`), so nothing is read from the
//! disk, and a connector is built once per timeout setting: at init, where Lambda gives
//! the full CPU, for the settings every client uses.
//!
//! Only in a Lambda function: the CLI, on a laptop perhaps behind a company's
//! TLS-inspecting proxy, keeps the system's store, as does a function whose
//! environment names one (`SSL_CERT_FILE`, `SSL_CERT_DIR`: a private CA in a layer).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;
use base64::Engine as _;

/// Connectors by the settings they apply (connect and read timeouts).
type Key = (Option<Duration>, Option<Duration>);

pub struct OneTlsClient {
    tls: TlsContext,
    connectors: RwLock<HashMap<Key, SharedHttpConnector>>,
}

impl OneTlsClient {
    /// A client trusting the roots [`roots`] picks from the environment.
    pub fn from_env() -> Arc<Self> {
        let trust = match roots(|name| std::env::var_os(name).is_some()) {
            Roots::Compiled => TrustStore::empty().with_pem_certificate(mozilla_roots_pem()),
            Roots::System => TrustStore::default(),
        };
        Arc::new(Self::trusting(trust))
    }

    fn trusting(trust: TrustStore) -> Self {
        let tls = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .expect("a TLS context without extra server names always builds");
        Self {
            tls,
            connectors: RwLock::new(HashMap::new()),
        }
    }

    /// Builds, now, the connector the clients made from `config` will ask for. Without
    /// timeouts in `config` (aws-config's loader always sets them) the clients' own
    /// defaults are not known here, and nothing is built.
    pub fn prepare_for(&self, config: &SdkConfig) {
        let Some(timeouts) = config.timeout_config() else {
            return;
        };
        let mut settings = HttpConnectorSettings::builder();
        settings.set_connect_timeout(timeouts.connect_timeout());
        settings.set_read_timeout(timeouts.read_timeout());
        self.connector(&settings.build(), config.sleep_impl());
    }

    /// How many connectors (TLS configurations) this client has built.
    pub fn connectors_built(&self) -> usize {
        self.read().len()
    }

    fn connector(
        &self,
        settings: &HttpConnectorSettings,
        sleep: Option<SharedAsyncSleep>,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let known = self.read().get(&key).cloned();
        if let Some(connector) = known {
            return connector;
        }
        let mut connectors = self.connectors.write().unwrap_or_else(|e| e.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| {
                let mut builder = Connector::builder().connector_settings(settings.clone());
                builder.set_sleep_impl(sleep);
                builder
                    .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                    .tls_context(self.tls.clone())
                    .build()
                    .into_shared()
            })
            .clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Key, SharedHttpConnector>> {
        self.connectors.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The client to give the SDK.
    pub fn shared(self: &Arc<Self>) -> SharedHttpClient {
        SharedHttpClient::new(Shared(Arc::clone(self)))
    }
}

/// Where the trust store comes from.
#[derive(Debug, PartialEq, Eq)]
enum Roots {
    /// Mozilla's, compiled into the binary.
    Compiled,
    /// The system's, as the SDK's own client reads them.
    System,
}

/// Compiled-in roots in a Lambda function (`AWS_LAMBDA_FUNCTION_NAME` is set) whose
/// environment names no certificate store; the system's everywhere else.
fn roots(set: impl Fn(&str) -> bool) -> Roots {
    let named = set("SSL_CERT_FILE") || set("SSL_CERT_DIR");
    if set("AWS_LAMBDA_FUNCTION_NAME") && !named {
        Roots::Compiled
    } else {
        Roots::System
    }
}

/// Not derived: the TLS context holds every root's PEM (about 200 kB), and the SDK
/// logs its HTTP client at trace level on every call.
impl std::fmt::Debug for OneTlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneTlsClient")
            .field("connectors_built", &self.connectors_built())
            .finish_non_exhaustive()
    }
}

/// The SDK's handle on the one client. It does not override the SDK's validation
/// hook, whose default builds nothing. The connector's clock for attempt telemetry is
/// the system's: the SDK's setter for another one is private to its crate.
#[derive(Debug)]
struct Shared(Arc<OneTlsClient>);

impl HttpClient for Shared {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.connector(settings, components.sleep_impl())
    }

    /// As the SDK's own client says it (the user agent's `md/http#hyper-1.x`).
    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

/// Mozilla's root certificates as one PEM document: the SDK takes its roots as PEM.
fn mozilla_roots_pem() -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut pem = String::with_capacity(300 * 1024);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        engine.encode_string(cert.as_ref(), &mut pem);
        pem.push_str("\n-----END CERTIFICATE-----\n");
    }
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_roots_only_in_a_function_that_names_no_store() {
        let with = |names: &[&str]| roots(|name| names.contains(&name));
        assert_eq!(with(&["AWS_LAMBDA_FUNCTION_NAME"]), Roots::Compiled);
        assert_eq!(with(&[]), Roots::System, "the CLI");
        for store in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
            assert_eq!(with(&["AWS_LAMBDA_FUNCTION_NAME", store]), Roots::System);
            assert_eq!(with(&[store]), Roots::System);
        }
    }

    #[test]
    fn its_debug_form_is_short_whatever_the_roots() {
        let client =
            OneTlsClient::trusting(TrustStore::empty().with_pem_certificate(mozilla_roots_pem()));
        let shown = format!("{:?}", Shared(Arc::new(client)));
        assert!(
            shown.len() < 200,
            "{} bytes: {}",
            shown.len(),
            &shown[..200.min(shown.len())]
        );
    }

    #[test]
    fn the_pem_holds_every_mozilla_root_byte_for_byte() {
        use rustls_pki_types::pem::PemObject;
        let parsed: Vec<_> =
            rustls_pki_types::CertificateDer::pem_slice_iter(mozilla_roots_pem().as_bytes())
                .collect::<Result<_, _>>()
                .expect("valid PEM");
        assert_eq!(parsed.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(parsed.len() > 100);
        for (ours, theirs) in parsed.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS) {
            assert_eq!(ours.as_ref(), theirs.as_ref());
        }
    }
}
