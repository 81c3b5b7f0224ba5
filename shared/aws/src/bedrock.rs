//! Bedrock Custom Model Import: find the running job, create, look up; the imported
//! models (details, tags, deletion) for the tracker.

use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_bedrock::operation::create_model_import_job::CreateModelImportJobError;
use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, S3DataSource, Tag, VpcConfig};
use aws_sdk_bedrock::Client;
use ferry_core::import::{
    CreateOutcome, ImportRequest, ImportService, JobInfo, JobStatus, PortError, PortErrorKind,
};

use ferry_core::track::{ModelInfo, ModelRegistry};

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
            end_time: None,
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
                end_time: job.end_time().map(epoch),
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

fn epoch(t: &aws_smithy_types::DateTime) -> u64 {
    u64::try_from(t.secs()).unwrap_or(0)
}

impl ModelRegistry for BedrockImports {
    async fn get_model(&self, arn_or_name: &str) -> Result<Option<ModelInfo>, PortError> {
        match self
            .client
            .get_imported_model()
            .model_identifier(arn_or_name)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ModelInfo {
                arn: out.model_arn().unwrap_or(arn_or_name).to_owned(),
                name: out.model_name().unwrap_or_default().to_owned(),
                created_at: out.creation_time().map(epoch).unwrap_or(0),
                tags: Vec::new(),
                architecture: out.model_architecture().map(str::to_owned),
                custom_model_units: out
                    .custom_model_units()
                    .and_then(|u| u.custom_model_units_per_model_copy())
                    .and_then(|u| u32::try_from(u).ok()),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(port_error("bedrock:GetImportedModel", &e)),
        }
    }

    async fn list_models(&self) -> Result<Vec<ModelInfo>, PortError> {
        let mut pages = self.client.list_imported_models().into_paginator().send();
        let mut models = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| port_error("bedrock:ListImportedModels", &e))?;
            for summary in page.model_summaries() {
                models.push(ModelInfo {
                    arn: summary.model_arn().to_owned(),
                    name: summary.model_name().to_owned(),
                    created_at: epoch(summary.creation_time()),
                    tags: Vec::new(),
                    architecture: summary.model_architecture().map(str::to_owned),
                    custom_model_units: None,
                });
            }
        }
        // Ownership and protection are tags: one ListTagsForResource per model (the
        // quota is a handful of models).
        for model in &mut models {
            let out = self
                .client
                .list_tags_for_resource()
                .resource_arn(&model.arn)
                .send()
                .await
                .map_err(|e| port_error("bedrock:ListTagsForResource", &e))?;
            model.tags = out
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
        }
        Ok(models)
    }

    async fn delete_model(&self, arn: &str) -> Result<(), PortError> {
        self.client
            .delete_imported_model()
            .model_identifier(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("bedrock:DeleteImportedModel", &e))
    }
}

impl BedrockImports {
    /// The account's most recent import jobs (newest first), for `ferry status`.
    pub async fn recent_jobs(&self, limit: i32) -> Result<Vec<(JobInfo, u64)>, PortError> {
        let out = self
            .client
            .list_model_import_jobs()
            .sort_by(aws_sdk_bedrock::types::SortJobsBy::CreationTime)
            .sort_order(aws_sdk_bedrock::types::SortOrder::Descending)
            .max_results(limit)
            .send()
            .await
            .map_err(|e| port_error("bedrock:ListModelImportJobs", &e))?;
        Ok(out
            .model_import_job_summaries()
            .iter()
            .map(|job| {
                (
                    JobInfo {
                        job_arn: job.job_arn().to_owned(),
                        job_name: job.job_name().to_owned(),
                        status: status(job.status()),
                        imported_model_arn: job.imported_model_arn().map(str::to_owned),
                        failure_message: None,
                        end_time: job.end_time().map(epoch),
                    },
                    epoch(job.creation_time()),
                )
            })
            .collect())
    }
}
