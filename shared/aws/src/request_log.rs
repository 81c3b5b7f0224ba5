//! A record of every request Ferry's clients sign, for the test that proves each one is
//! granted by the roles Ferry deploys: the operation, the parameters that name its
//! resource, and who signed it (the access key and region of the signature). On only
//! when `FERRY_REQUEST_LOG` is set: a production client gets no extra interceptor, so
//! its cost is one environment read per process.
//!
//! Lines go to stdout beside the EMF lines, one JSON object each:
//! `{"ferry_request": {"service", "operation", "access_key", "region", "params"}}`, and
//! for each role assumed, `{"ferry_assumed": {"access_key", "role_arn", "session_arn"}}`
//! so that the reader can tell which role a later key belongs to.

use std::sync::LazyLock;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef, Input,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::{json, Map, Value};

use crate::api_calls::operation;

/// The variable that turns the record on.
pub const ENV: &str = "FERRY_REQUEST_LOG";

static ENABLED: LazyLock<bool> = LazyLock::new(|| std::env::var_os(ENV).is_some());

/// Whether clients built now record their requests.
pub fn enabled() -> bool {
    *ENABLED
}

/// The interceptor `crate::config` adds to every client when [`enabled`].
#[derive(Debug, Default)]
pub struct RequestLog;

/// One execution's parameters, kept from serialization until the first signature.
#[derive(Debug, Clone)]
struct Pending {
    params: Map<String, Value>,
}

impl Storable for Pending {
    type Storer = StoreReplace<Self>;
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "FerryRequestLog"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let params = params(context.input());
        cfg.interceptor_state().store_put(Pending { params });
        Ok(())
    }

    // Once per execution (retries sign again with the same key): the first signature.
    fn read_after_signing(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Unset once logged: a retry finds nothing to log.
        let Some(pending) = cfg.load::<Pending>() else {
            return Ok(());
        };
        let (service, operation) = operation(cfg);
        let authorization = context
            .request()
            .headers()
            .get("authorization")
            .unwrap_or_default();
        let (access_key, region) = credential_scope(authorization);
        let line = json!({"ferry_request": {
            "service": service,
            "operation": operation,
            "access_key": access_key,
            "region": region,
            "params": &pending.params,
        }});
        println!("{line}");
        cfg.interceptor_state().unset::<Pending>();
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        if let Some(assumed) =
            output.downcast_ref::<aws_sdk_sts::operation::assume_role::AssumeRoleOutput>()
        {
            let (Some(credentials), Some(user)) =
                (assumed.credentials(), assumed.assumed_role_user())
            else {
                return Ok(());
            };
            let line = json!({"ferry_assumed": {
                "access_key": credentials.access_key_id(),
                "session_arn": user.arn(),
            }});
            println!("{line}");
        }
        Ok(())
    }
}

/// The access key and region of a SigV4 `Authorization` header
/// (`AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...`).
fn credential_scope(authorization: &str) -> (String, String) {
    let scope = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|rest| rest.split([',', ' ']).next())
        .unwrap_or_default();
    let mut parts = scope.split('/');
    let key = parts.next().unwrap_or_default().to_owned();
    let region = parts.nth(1).unwrap_or_default().to_owned();
    (key, region)
}

/// Adds `name` when the request has it.
fn put(params: &mut Map<String, Value>, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        params.insert(name.to_owned(), Value::from(value));
    }
}

/// Records one service's operations' parameters into the map; `false` when the input
/// is none of them.
type ServiceParams = fn(&Input, &mut Map<String, Value>) -> bool;

/// The parameters that name each operation's resource (and the condition keys its
/// authorization reads). An operation not listed records none: the grants table in
/// `ferry_core::grants` then refuses it, so a new call cannot slip through unmapped.
fn params(input: &Input) -> Map<String, Value> {
    const SERVICES: [ServiceParams; 10] = [
        s3_params,
        sts_params,
        kms_params,
        iam_params,
        dynamodb_params,
        sns_params,
        bedrock_params,
        eventbridge_params,
        ssm_params,
        runtime_params,
    ];
    let mut p = Map::new();
    // Each input is one operation: the first service that knows it records it.
    SERVICES.iter().any(|service| service(input, &mut p));
    p
}

fn s3_params(input: &Input, p: &mut Map<String, Value>) -> bool {
    use aws_sdk_s3::operation as s3;
    if let Some(i) = input.downcast_ref::<s3::list_objects_v2::ListObjectsV2Input>() {
        put(p, "bucket", i.bucket());
        put(p, "prefix", i.prefix());
    } else if let Some(i) = input.downcast_ref::<s3::get_object::GetObjectInput>() {
        put(p, "bucket", i.bucket());
        put(p, "key", i.key());
    } else if let Some(i) = input.downcast_ref::<s3::head_object::HeadObjectInput>() {
        put(p, "bucket", i.bucket());
        put(p, "key", i.key());
    } else if let Some(i) = input.downcast_ref::<s3::get_bucket_policy::GetBucketPolicyInput>() {
        put(p, "bucket", i.bucket());
    } else {
        return false;
    }
    true
}

fn sts_params(input: &Input, p: &mut Map<String, Value>) -> bool {
    let Some(i) = input.downcast_ref::<aws_sdk_sts::operation::assume_role::AssumeRoleInput>()
    else {
        return false;
    };
    put(p, "role_arn", i.role_arn());
    put(p, "external_id", i.external_id());
    true
}

fn kms_params(input: &Input, p: &mut Map<String, Value>) -> bool {
    let Some(i) = input.downcast_ref::<aws_sdk_kms::operation::get_key_policy::GetKeyPolicyInput>()
    else {
        return false;
    };
    put(p, "key_id", i.key_id());
    true
}

fn iam_params(input: &Input, p: &mut Map<String, Value>) -> bool {
    use aws_sdk_iam::operation as iam;
    if let Some(i) = input.downcast_ref::<iam::get_role::GetRoleInput>() {
        put(p, "role_name", i.role_name());
    } else if let Some(i) = input.downcast_ref::<iam::list_role_policies::ListRolePoliciesInput>() {
        put(p, "role_name", i.role_name());
    } else if let Some(i) = input.downcast_ref::<iam::get_role_policy::GetRolePolicyInput>() {
        put(p, "role_name", i.role_name());
    } else if let Some(i) =
        input.downcast_ref::<iam::list_attached_role_policies::ListAttachedRolePoliciesInput>()
    {
        put(p, "role_name", i.role_name());
    } else if let Some(i) = input.downcast_ref::<iam::get_policy::GetPolicyInput>() {
        put(p, "policy_arn", i.policy_arn());
    } else if let Some(i) = input.downcast_ref::<iam::get_policy_version::GetPolicyVersionInput>() {
        put(p, "policy_arn", i.policy_arn());
    } else {
        return false;
    }
    true
}

fn dynamodb_params(input: &Input, p: &mut Map<String, Value>) -> bool {
    use aws_sdk_dynamodb::operation as dynamodb;
    if let Some(i) = input.downcast_ref::<dynamodb::get_item::GetItemInput>() {
        put(p, "table", i.table_name());
    } else if let Some(i) = input.downcast_ref::<dynamodb::put_item::PutItemInput>() {
        put(p, "table", i.table_name());
    } else if let Some(i) = input.downcast_ref::<dynamodb::update_item::UpdateItemInput>() {
        put(p, "table", i.table_name());
    } else if let Some(i) = input.downcast_ref::<dynamodb::query::QueryInput>() {
        put(p, "table", i.table_name());
        put(p, "index", i.index_name());
    } else {
        return false;
    }
    true
}

fn sns_params(input: &Input, p: &mut Map<String, Value>) -> bool {
    let Some(i) = input.downcast_ref::<aws_sdk_sns::operation::publish::PublishInput>() else {
        return false;
    };
    put(p, "topic_arn", i.topic_arn());
    true
}

fn bedrock_params(input: &Input, p: &mut Map<String, Value>) -> bool {
    use aws_sdk_bedrock::operation as bedrock;
    if let Some(i) =
        input.downcast_ref::<bedrock::create_model_import_job::CreateModelImportJobInput>()
    {
        create_job_params(i, p);
    } else if let Some(i) =
        input.downcast_ref::<bedrock::get_model_import_job::GetModelImportJobInput>()
    {
        put(p, "job", i.job_identifier());
    } else if let Some(i) =
        input.downcast_ref::<bedrock::get_imported_model::GetImportedModelInput>()
    {
        put(p, "model", i.model_identifier());
    } else if let Some(i) =
        input.downcast_ref::<bedrock::delete_imported_model::DeleteImportedModelInput>()
    {
        put(p, "model", i.model_identifier());
    } else if let Some(i) =
        input.downcast_ref::<bedrock::list_tags_for_resource::ListTagsForResourceInput>()
    {
        put(p, "resource_arn", i.resource_arn());
    } else {
        return false;
    }
    true
}

/// PutEvents: each entry's bus, source and detail-type (its condition keys).
fn eventbridge_params(input: &Input, p: &mut Map<String, Value>) -> bool {
    use aws_sdk_eventbridge::operation::put_events::PutEventsInput;
    let Some(i) = input.downcast_ref::<PutEventsInput>() else {
        return false;
    };
    let entries: Vec<Value> = i
        .entries()
        .iter()
        .map(|e| {
            let mut entry = Map::new();
            put(&mut entry, "source", e.source());
            put(&mut entry, "detail_type", e.detail_type());
            put(&mut entry, "bus", e.event_bus_name());
            Value::Object(entry)
        })
        .collect();
    p.insert("entries".into(), entries.into());
    true
}

fn ssm_params(input: &Input, p: &mut Map<String, Value>) -> bool {
    use aws_sdk_ssm::operation as ssm;
    if let Some(i) = input.downcast_ref::<ssm::get_parameter::GetParameterInput>() {
        put(p, "name", i.name());
    } else if let Some(i) = input.downcast_ref::<ssm::put_parameter::PutParameterInput>() {
        put(p, "name", i.name());
    } else {
        return false;
    }
    true
}

fn runtime_params(input: &Input, p: &mut Map<String, Value>) -> bool {
    use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelInput;
    let Some(i) = input.downcast_ref::<InvokeModelInput>() else {
        return false;
    };
    put(p, "model_id", i.model_id());
    true
}

/// CreateModelImportJob's names, role, key and its tags' keys (what tag conditions read).
fn create_job_params(
    i: &aws_sdk_bedrock::operation::create_model_import_job::CreateModelImportJobInput,
    p: &mut Map<String, Value>,
) {
    put(p, "job_name", i.job_name());
    put(p, "imported_model_name", i.imported_model_name());
    put(p, "role_arn", i.role_arn());
    put(
        p,
        "imported_model_kms_key_id",
        i.imported_model_kms_key_id(),
    );
    let keys = |tags: &[aws_sdk_bedrock::types::Tag]| -> Vec<Value> {
        tags.iter().map(|t| Value::from(t.key())).collect()
    };
    p.insert("job_tag_keys".into(), keys(i.job_tags()).into());
    p.insert(
        "imported_model_tag_keys".into(),
        keys(i.imported_model_tags()).into(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_scope_reads_key_and_region() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(
            credential_scope(header),
            ("AKIDEXAMPLE".to_owned(), "eu-west-1".to_owned())
        );
        assert_eq!(credential_scope(""), (String::new(), String::new()));
    }

    #[test]
    fn parameters_name_the_resource() {
        let input = Input::erase(
            aws_sdk_s3::operation::get_object::GetObjectInput::builder()
                .bucket("b")
                .key("k/config.json")
                .build()
                .unwrap(),
        );
        assert_eq!(
            Value::Object(params(&input)),
            json!({"bucket": "b", "key": "k/config.json"})
        );
        let unknown = Input::erase(
            aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityInput::builder()
                .build()
                .unwrap(),
        );
        assert!(params(&unknown).is_empty());
    }
}

/// The calls one process recorded, each with the role that made it: a key the process
/// got from AssumeRole belongs to the role it assumed; any other key is the process's
/// own (`own_role_arn`). Lines that are not request records are skipped.
pub fn read<'a>(
    by: &str,
    own_role_arn: &str,
    lines: impl IntoIterator<Item = &'a str> + Clone,
) -> Vec<ferry_core::grants::MadeCall> {
    let records: Vec<Value> = lines
        .into_iter()
        .filter(|l| l.contains("\"ferry_request\"") || l.contains("\"ferry_assumed\""))
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect();
    let assumed: Vec<(String, String)> = records
        .iter()
        .filter_map(|r| r.get("ferry_assumed"))
        .filter_map(|a| {
            let key = a.get("access_key")?.as_str()?.to_owned();
            Some((key, role_of_session(a.get("session_arn")?.as_str()?)?))
        })
        .collect();
    records
        .iter()
        .filter_map(|r| r.get("ferry_request"))
        .map(|r| {
            let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
            let role_arn = assumed
                .iter()
                .find(|(key, _)| key == text("access_key"))
                .map_or(own_role_arn.to_owned(), |(_, role)| role.clone());
            ferry_core::grants::MadeCall {
                by: by.to_owned(),
                role_arn,
                call: ferry_core::grants::Call {
                    service: text("service").to_owned(),
                    operation: text("operation").to_owned(),
                    region: text("region").to_owned(),
                    params: r
                        .get("params")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default(),
                },
            }
        })
        .collect()
}

/// `arn:P:sts::ACCOUNT:assumed-role/NAME/SESSION` → `arn:P:iam::ACCOUNT:role/NAME`.
fn role_of_session(session: &str) -> Option<String> {
    let parts: Vec<&str> = session.splitn(6, ':').collect();
    let [_, partition, _, _, account, resource] = parts.as_slice() else {
        return None;
    };
    let name = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    Some(format!("arn:{partition}:iam::{account}:role/{name}"))
}

#[cfg(test)]
mod read_tests {
    use super::*;

    #[test]
    fn keys_from_assume_role_belong_to_the_assumed_role() {
        let lines = [
            r#"{"ferry_request":{"service":"STS","operation":"AssumeRole","access_key":"OWN","region":"us-east-1","params":{"role_arn":"arn:aws:iam::2:role/Auto"}}}"#,
            r#"{"ferry_assumed":{"access_key":"TEMP","session_arn":"arn:aws:sts::222233334444:assumed-role/Auto/ferry-import"}}"#,
            r#"{"level":"INFO","message":"not a record"}"#,
            r#"{"ferry_request":{"service":"DynamoDB","operation":"GetItem","access_key":"TEMP","region":"us-east-1","params":{"table":"t"}}}"#,
        ];
        let calls = read("importer", "arn:aws:iam::1:role/Importer", lines);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].role_arn, "arn:aws:iam::1:role/Importer");
        assert_eq!(calls[1].role_arn, "arn:aws:iam::222233334444:role/Auto");
        assert_eq!(calls[1].call.params["table"], "t");
    }
}
