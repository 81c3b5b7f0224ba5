//! Every IAM, bucket and key policy of a Ferry deployment, from one set of inputs.
//!
//! The seed's six documents (bucket policy, execution role trust and identity policies,
//! both key policy statements) and the policies of Ferry's own roles (importer,
//! automation, tracker, and with several stages the promotion forwarding) are written
//! once, here. `ferry policies` prints them, the SAM
//! templates in `infra/` carry the same statements (a test renders the templates and
//! compares), the local stack installs them, and a test feeds them to the access checker.

mod documents;
mod extra;
mod inputs;

pub use documents::{
    automation_role_policy, automation_role_trust, bucket_policy, execution_role_policy,
    execution_role_trust, imported_model_key_statement, importer_role_policy, key_policy,
    promotion_bus_policy, promotion_forward_role_policy, promotion_forward_role_trust,
    research_key_statement, tracker_role_policy, Document, DocumentSet, Side,
    GRANTS_NO_TEST_REACHES,
};
pub use extra::{customization_role, deny_inference, CustomizationRole};
pub use inputs::{
    bucket_folder, check_account, release_parameter_prefix, Deployment, InputError, Names, Stage,
    DEFAULT_RELEASE_PARAMETER_PREFIX, MAX_STAGES,
};
