//! The one HTTPS client: in a Lambda function, Mozilla's roots unless the environment
//! names the system's store, and one connector (TLS configuration) for every client of
//! a process, built at init. One test, because it sets environment variables, which
//! are process-wide.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sts::config::Credentials;
use ferry_aws::https::OneTlsClient;
use ferry_testkit::moto::{read_bound_port, workspace_root};

/// `tests/support/tls_server.py`: HTTPS on loopback, certificate from a private CA.
struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    fn start(ca_pem: &Path) -> Self {
        let python = workspace_root().join(".venv/bin/python");
        let script = workspace_root().join("shared/aws/tests/support/tls_server.py");
        let mut child = Command::new(&python)
            .arg(script)
            .arg(ca_pem)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", python.display()));
        let port = read_bound_port(&mut child).expect("the TLS server reports its port");
        Self { child, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GetCallerIdentity against the server through a new client, as a cold start makes
/// it; the answer's error, rendered.
async fn call(port: u16) -> String {
    let https = OneTlsClient::from_env();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https.shared())
        .endpoint_url(format!("https://localhost:{port}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    https.prepare_for(&config);
    assert_eq!(https.connectors_built(), 1, "one connector, built at init");
    let sts = ferry_aws::config::sts_client(&config);
    let s3 = ferry_aws::s3_client(&config);
    let answer = sts.get_caller_identity().send().await;
    let _ = s3.list_buckets().send().await;
    assert_eq!(
        https.connectors_built(),
        1,
        "the clients' requests used the connector built at init"
    );
    let error = answer.expect_err("the server answers 418");
    format!("{:?}", aws_sdk_sts::error::DisplayErrorContext(error))
}

#[tokio::test]
async fn a_private_ca_is_refused_until_ssl_cert_file_names_it() {
    std::env::remove_var("SSL_CERT_FILE");
    std::env::remove_var("SSL_CERT_DIR");
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "ferry-importer");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let server = TlsServer::start(&ca);

    let refused = call(server.port).await;
    assert!(
        refused.contains("UnknownIssuer") && !refused.contains("Teapot"),
        "Mozilla's roots do not include a private CA: {refused}"
    );

    // The SDK loads the system's roots once per process, on first use: the compiled-in
    // path above never used them, so this file is what they load.
    std::env::set_var("SSL_CERT_FILE", &ca);
    let reached = call(server.port).await;
    assert!(
        reached.contains("Teapot"),
        "with SSL_CERT_FILE the system store (that file) is trusted: {reached}"
    );
}
