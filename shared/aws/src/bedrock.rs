//! Bedrock Custom Model Import: find the running job, create, look up.

use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_bedrock::operation::create_model_import_job::CreateModelImportJobError;
use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, S3DataSource, Tag, VpcConfig};
use aws_sdk_bedrock::Client;
use ferry_core::import::{
    CreateOutcome, ImportRequest, ImportService, JobInfo, JobStatus, PortError, PortErrorKind,
};

use crate::error::port_error;

#[derive(Clone)]
pub struct BedrockImports {
    client: Client,
}

impl BedrockImports {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn status(status: &ModelImportJobStatus) -> JobStatus {
    match status {
        ModelImportJobStatus::Completed => JobStatus::Completed,
        ModelImportJobStatus::Failed => JobStatus::Failed,
        _ => JobStatus::InProgress,
    }
}

fn tags(pairs: &[(String, String)]) -> Result<Vec<Tag>, PortError> {
    pairs
        .iter()
        .map(|(k, v)| {
            Tag::builder().key(k).value(v).build().map_err(|e| {
                PortError::new(
                    PortErrorKind::Invalid,
                    "bedrock:CreateModelImportJob",
                    e.to_string(),
                )
            })
        })
        .collect()
}

impl ImportService for BedrockImports {
    async fn running_job(&self) -> Result<Option<JobInfo>, PortError> {
        let out = self
            .client
            .list_model_import_jobs()
            .status_equals(ModelImportJobStatus::InProgress)
            .max_results(1)
            .send()
            .await
            .map_err(|e| port_error("bedrock:ListModelImportJobs", &e))?;
        Ok(out.model_import_job_summaries().first().map(|job| JobInfo {
            job_arn: job.job_arn().to_owned(),
            job_name: job.job_name().to_owned(),
            status: status(job.status()),
            imported_model_arn: job.imported_model_arn().map(str::to_owned),
            failure_message: None,
        }))
    }

    async fn create_job(&self, request: &ImportRequest) -> Result<CreateOutcome, PortError> {
        let operation = "bedrock:CreateModelImportJob";
        let source = S3DataSource::builder()
            .s3_uri(&request.s3_uri)
            .build()
            .map_err(|e| PortError::new(PortErrorKind::Invalid, operation, e.to_string()))?;
        let vpc = match &request.vpc {
            Some(vpc) => Some(
                VpcConfig::builder()
                    .set_subnet_ids(Some(vpc.subnet_ids.clone()))
                    .set_security_group_ids(Some(vpc.security_group_ids.clone()))
                    .build()
                    .map_err(|e| {
                        PortError::new(PortErrorKind::Invalid, operation, e.to_string())
                    })?,
            ),
            None => None,
        };
        let tags = tags(&request.tags)?;
        let result = self
            .client
            .create_model_import_job()
            .job_name(&request.job_name)
            .imported_model_name(&request.imported_model_name)
            .role_arn(&request.role_arn)
            .model_data_source(ModelDataSource::S3DataSource(source))
            .set_imported_model_kms_key_id(request.imported_model_kms_key_id.clone())
            .set_vpc_config(vpc)
            .set_job_tags(Some(tags.clone()))
            .set_imported_model_tags(Some(tags))
            .client_request_token(&request.client_request_token)
            .send()
            .await;
        match result {
            Ok(out) => Ok(CreateOutcome::Started {
                job_arn: out.job_arn().to_owned(),
            }),
            Err(err) => match err.as_service_error() {
                Some(CreateModelImportJobError::ServiceQuotaExceededException(e)) => {
                    Ok(CreateOutcome::SlotBusy(format!(
                        "ServiceQuotaExceededException: {}",
                        e.message().unwrap_or("")
                    )))
                }
                Some(CreateModelImportJobError::ConflictException(e)) => {
                    Ok(CreateOutcome::NameConflict(format!(
                        "ConflictException: {}",
                        e.message().unwrap_or("")
                    )))
                }
                Some(modeled) => Err(classify_create_error(modeled, port_error(operation, &err))),
                None => Err(port_error(operation, &err)),
            },
        }
    }

    async fn get_job(&self, name_or_arn: &str) -> Result<Option<JobInfo>, PortError> {
        let result = self
            .client
            .get_model_import_job()
            .job_identifier(name_or_arn)
            .send()
            .await;
        match result {
            Ok(job) => Ok(Some(JobInfo {
                job_arn: job.job_arn().unwrap_or_default().to_owned(),
                job_name: job.job_name().unwrap_or_default().to_owned(),
                // A job without a status has not finished.
                status: job.status().map(status).unwrap_or(JobStatus::InProgress),
                imported_model_arn: job.imported_model_arn().map(str::to_owned),
                failure_message: job.failure_message().map(str::to_owned),
            })),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(port_error("bedrock:GetModelImportJob", &err)),
        }
    }
}

/// The modeled error variant decides the kind; codes and statuses are only the fallback
/// (they are absent when the error was not read off the wire).
fn classify_create_error(modeled: &CreateModelImportJobError, mut port: PortError) -> PortError {
    use CreateModelImportJobError as E;
    let (kind, name) = match modeled {
        E::ValidationException(_) => (PortErrorKind::Invalid, "ValidationException"),
        E::TooManyTagsException(_) => (PortErrorKind::Invalid, "TooManyTagsException"),
        E::ResourceNotFoundException(_) => (PortErrorKind::Invalid, "ResourceNotFoundException"),
        E::AccessDeniedException(_) => (PortErrorKind::Denied, "AccessDeniedException"),
        E::ThrottlingException(_) => (PortErrorKind::Retryable, "ThrottlingException"),
        E::InternalServerException(_) => (PortErrorKind::Retryable, "InternalServerException"),
        _ => return port,
    };
    port.kind = kind;
    if !port.message.starts_with(name) {
        port.message = format!("{name}: {}", modeled.message().unwrap_or_default());
    }
    port
}
