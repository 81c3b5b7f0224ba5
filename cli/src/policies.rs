//! `ferry policies`: every document of the seed's procedure, filled in for one
//! deployment (one hosting account, or one per stage), from the same definitions the SAM
//! templates and the local stack use.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Result};
use ferry_core::aws_names::region::is_region_name;
use ferry_core::policies::{
    bucket_folder, check_account, customization_role, deny_inference, Deployment, Document,
    DocumentSet, InputError, Names, Side, Stage,
};

use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// The account that holds the weights
    #[arg(long, value_name = "ID")]
    research_account: Option<String>,
    /// The account that imports them into Bedrock (one stage)
    #[arg(long, value_name = "ID", conflicts_with = "stages")]
    hosting_account: Option<String>,
    /// A stage and its hosting account, once per stage in promotion order (dev=ID
    /// staging=ID ...), instead of --hosting-account
    #[arg(long = "stage", value_name = "NAME=ID")]
    stages: Vec<String>,
    /// The research bucket (a name, not s3://)
    #[arg(long, value_name = "NAME")]
    bucket: Option<String>,
    /// The folder Ferry watches in the bucket; grants stop there ("" for the whole bucket)
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// The region of the imports; the partition (aws, aws-us-gov, aws-cn) follows from it
    #[arg(long, value_name = "REGION")]
    region: String,
    /// The research account's KMS key that encrypts the weights (SSE-KMS)
    #[arg(long, value_name = "ARN")]
    research_kms_key: Option<String>,
    /// The hosting account's KMS key for the imported model (with --stage, once per stage
    /// that has one: the key's account picks the stage)
    #[arg(long, value_name = "ARN")]
    imported_model_kms_key: Vec<String>,
    /// Also print the policies of Ferry's own roles (importer, automation, tracker)
    #[arg(long, requires = "external_id")]
    ferry_roles: bool,
    /// The ExternalId the importer presents to the automation role (with --ferry-roles)
    #[arg(long, value_name = "ID", requires = "ferry_roles")]
    external_id: Option<String>,
    #[arg(long, value_name = "NAME", default_value_t = Names::default().execution_role)]
    execution_role_name: String,
    #[arg(long, value_name = "NAME", default_value_t = Names::default().automation_role)]
    automation_role_name: String,
    #[arg(long, value_name = "NAME", default_value_t = Names::default().importer_role)]
    importer_role_name: String,
    #[arg(long, value_name = "NAME", default_value_t = Names::default().tracker_role)]
    tracker_role_name: String,
    #[arg(long, value_name = "NAME", default_value_t = Names::default().ledger_table)]
    ledger_table: String,
    #[arg(long, value_name = "NAME", default_value_t = Names::default().alert_topic)]
    alert_topic: String,
    /// Alias (without alias/) of the key that encrypts the alert topic
    #[arg(long, value_name = "NAME", default_value_t = Names::default().alert_key_alias)]
    alert_key_alias: String,
    /// Print only seed 003's policy denying inference on these foundation models (for
    /// models whose access cannot be removed, as in GovCloud)
    #[arg(
        long,
        value_name = "MODEL_ID",
        num_args = 1..,
        conflicts_with_all = [
            "customization_role", "research_account", "bucket", "prefix", "research_kms_key",
            "imported_model_kms_key", "ferry_roles", "stages",
        ]
    )]
    deny_inference: Vec<String>,
    /// Print only seed 002's service role for fine-tuning jobs in the research account:
    /// reads --bucket/--prefix, writes --output-bucket/--output-prefix
    #[arg(long, requires = "output_prefix", conflicts_with_all = ["ferry_roles", "research_kms_key", "imported_model_kms_key", "stages"])]
    customization_role: bool,
    #[arg(long, value_name = "NAME", requires = "customization_role")]
    output_bucket: Option<String>,
    /// Where fine-tuning jobs write (required: writes never reach the training data)
    #[arg(long, value_name = "PREFIX", requires = "customization_role")]
    output_prefix: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn required<'a>(value: &'a Option<String>, flag: &str, why: &str) -> Result<&'a str> {
    match value {
        Some(v) => Ok(v),
        None => bail!("{flag} is required {why}"),
    }
}

fn input(err: InputError) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

pub fn run(args: Args) -> Result<ExitCode> {
    if !is_region_name(&args.region) {
        bail!(
            "--region: {:?} is not a region name like us-east-1",
            args.region
        );
    }
    let set = if !args.deny_inference.is_empty() {
        deny_inference_set(&args)?
    } else if args.customization_role {
        customization_set(&args)?
    } else {
        import_chain_set(&args)?
    };
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&set)?)?,
        Format::Text => {
            let color = std::io::stderr().is_terminal();
            for warning in &set.warnings {
                if color {
                    eprintln!("\x1b[33mwarning:\x1b[0m {warning}");
                } else {
                    eprintln!("warning: {warning}");
                }
            }
            write!(stdout, "{}", render_text(&set)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn import_chain_set(args: &Args) -> Result<DocumentSet> {
    let why = "(the accounts, bucket and prefix of the import chain)";
    let research_account = required(&args.research_account, "--research-account", why)?;
    let stages = stages(args)?;
    let hosting_account = if stages.is_empty() {
        required(
            &args.hosting_account,
            "--hosting-account (or --stage NAME=ID for each stage)",
            why,
        )?
    } else {
        ""
    };
    let mut d = Deployment::new(
        research_account,
        hosting_account,
        &args.region,
        required(&args.bucket, "--bucket", why)?,
        required(&args.prefix, "--prefix", why)?,
    )
    .with_stages(stages);
    d.research_kms_key = args.research_kms_key.clone();
    if args.stages.is_empty() {
        match args.imported_model_kms_key.as_slice() {
            [] => {}
            [key] => d.imported_model_kms_key = Some(key.clone()),
            _ => bail!("--imported-model-kms-key: give one key with --hosting-account (one per stage with --stage)"),
        }
    }
    d.external_id = args.external_id.clone();
    d.names = Names {
        execution_role: args.execution_role_name.clone(),
        automation_role: args.automation_role_name.clone(),
        importer_role: args.importer_role_name.clone(),
        tracker_role: args.tracker_role_name.clone(),
        ledger_table: args.ledger_table.clone(),
        alert_topic: args.alert_topic.clone(),
        alert_key_alias: args.alert_key_alias.clone(),
    };
    let d = d.validated().map_err(input)?;
    let mut set = DocumentSet::seed(&d);
    if d.research_kms_key.is_none() {
        set.warnings.push(
            "no --research-kms-key: if the weights are encrypted with a customer managed KMS key (SSE-KMS), Bedrock also needs that key; give it to get its statements".into(),
        );
    }
    if args.ferry_roles {
        set.documents
            .extend(DocumentSet::ferry_roles(&d).map_err(input)?.documents);
    }
    Ok(set)
}

/// The `--stage NAME=ID` flags in order, each with its `--imported-model-kms-key` if one
/// is of its account (the names and accounts are checked with the deployment).
fn stages(args: &Args) -> Result<Vec<Stage>> {
    let mut stages = Vec::with_capacity(args.stages.len());
    for given in &args.stages {
        let Some((name, account)) = given.split_once('=') else {
            bail!("--stage: {given:?} is not NAME=ID (e.g. --stage dev=111122223333)");
        };
        stages.push(Stage::new(name, account));
    }
    if stages.is_empty() {
        return Ok(stages);
    }
    for key in &args.imported_model_kms_key {
        let account = key.split(':').nth(4).unwrap_or_default();
        let Some(stage) = stages.iter_mut().find(|stage| stage.account == account) else {
            let accounts: Vec<&str> = args.stages.iter().map(String::as_str).collect();
            bail!(
                "--imported-model-kms-key: {key:?} is no key of a stage's account ({}); give each stage's key ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID)",
                accounts.join(", ")
            );
        };
        if stage.imported_model_kms_key.is_some() {
            bail!(
                "--imported-model-kms-key: two keys for stage {} (account {}); give one per stage",
                stage.name,
                stage.account
            );
        }
        stage.imported_model_kms_key = Some(key.clone());
    }
    Ok(stages)
}

fn deny_inference_set(args: &Args) -> Result<DocumentSet> {
    if let Some(account) = &args.hosting_account {
        check_account("--hosting-account", account).map_err(input)?;
    }
    let document = deny_inference(&args.region, &args.deny_inference).map_err(input)?;
    let partition = ferry_core::aws_names::region::partition_of(&args.region);
    Ok(DocumentSet {
        partition,
        region: args.region.clone(),
        warnings: Vec::new(),
        documents: vec![Document {
            id: "deny-inference",
            side: Side::Hosting,
            account: args.hosting_account.clone(),
            stage: None,
            applies_to: "the roles, groups or SCP of the accounts to restrict".into(),
            how: "Attach as an identity policy (or an SCP): it blocks inference on these models in every region of the partition.".into(),
            document,
        }],
    })
}

fn customization_set(args: &Args) -> Result<DocumentSet> {
    let why = "with --customization-role (the fine-tuning jobs' account and data)";
    let account = required(&args.research_account, "--research-account", why)?;
    let bucket = required(&args.bucket, "--bucket", why)?;
    check_account("--research-account", account).map_err(input)?;
    // Like the import chain's: only an explicit "" reads the whole bucket.
    let prefix = required(&args.prefix, "--prefix", why)?;
    let (bucket, prefix) =
        bucket_folder(bucket, prefix, ("--bucket", "--prefix")).map_err(input)?;
    let given_output_prefix = args.output_prefix.as_deref().unwrap_or_default();
    let (output_bucket, output_prefix) = bucket_folder(
        args.output_bucket.as_deref().unwrap_or(&bucket),
        given_output_prefix,
        ("--output-bucket", "--output-prefix"),
    )
    .map_err(input)?;
    let overlaps = |a: &str, b: &str| a.starts_with(b) || b.starts_with(a);
    if output_prefix.is_empty() || (output_bucket == bucket && overlaps(&output_prefix, &prefix)) {
        bail!(
            "--output-prefix: {given_output_prefix:?} would let jobs write over the training data under s3://{bucket}/{prefix}; give a separate folder"
        );
    }
    let role = customization_role(
        account,
        &args.region,
        &bucket,
        &prefix,
        &output_bucket,
        &output_prefix,
    );
    let document = |id, how: &str, body| Document {
        id,
        side: Side::Research,
        account: Some(account.to_owned()),
        stage: None,
        applies_to: "the model-customization service role".into(),
        how: how.into(),
        document: body,
    };
    Ok(DocumentSet {
        partition: ferry_core::aws_names::region::partition_of(&args.region),
        region: args.region.clone(),
        warnings: Vec::new(),
        documents: vec![
            document(
                "customization-role-trust",
                "The trust policy: Bedrock's customization jobs of this account only.",
                role.trust,
            ),
            document(
                "customization-role-policy",
                "The identity policy: read the training data, write the output.",
                role.policy,
            ),
        ],
    })
}

fn render_text(set: &DocumentSet) -> Result<String> {
    let mut out = format!(
        "Partition {}, region {}: {} document(s).\n",
        set.partition,
        set.region,
        set.documents.len()
    );
    for (n, doc) in set.documents.iter().enumerate() {
        let side = match doc.side {
            Side::Research => "research",
            Side::Hosting => "hosting",
        };
        let account = doc
            .account
            .as_deref()
            .map(|a| format!(" account {a}"))
            .unwrap_or_default();
        let stage = doc
            .stage
            .as_deref()
            .map(|s| format!(", stage {s}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n{}. {} ({side}{account}{stage}, {})\n   {}\n{}\n",
            n + 1,
            doc.id,
            doc.applies_to,
            doc.how,
            serde_json::to_string_pretty(&doc.document)?
        ));
    }
    Ok(out)
}
