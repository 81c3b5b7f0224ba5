//! An IAM policy evaluation engine: documents as AWS stores them, conditions with
//! AWS's operators, principals, and the evaluation logic for one request across
//! identity, resource, boundary and SCP policies. Every decision names the statements
//! that made it.

pub mod condition;
pub mod evaluate;
pub mod matcher;
pub mod policy;

use std::collections::BTreeMap;

pub(crate) use evaluate::{decide, Inputs, NamedPolicy};
pub use evaluate::{Decision, Denial, Matched, Missing, Request, Rule};
pub use matcher::RequestPrincipal;
pub use policy::{Effect, Policy, PolicyError, Statement};

/// The request context: condition keys (case-insensitive) and their values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    values: BTreeMap<String, Vec<String>>,
}

impl Context {
    /// Adds one value for `key` (matched case-insensitively); a key may hold several.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.values
            .entry(key.to_ascii_lowercase())
            .or_default()
            .push(value.into());
    }

    /// Every value given for `key` (case-insensitive), or `None` when the key is absent.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
    }

    /// The first value given for `key`, for single-valued keys; `None` when absent.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| v.first()).map(String::as_str)
    }
}
