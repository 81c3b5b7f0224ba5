//! Every AWS call Ferry makes, proven granted by the roles Ferry deploys: a table from
//! operation to the permissions it needs (`needs`), and the judgement of recorded calls
//! by Ferry's own IAM engine against a deployment's policies (`audit`), both ways:
//! calls not allowed, and grants no call used.

mod audit;
mod needs;

pub use audit::{
    audit, table, unused, Encrypted, Grants, Judged, MadeCall, ResourcePolicy, Role, Unused,
};
pub use needs::{needs, Call, Caller, Need, NeedError};
