//! IAM policy documents as AWS stores them: `Statement` an object or a list; `Action`,
//! `Resource`, `Principal` values a string or a list; `NotAction`, `NotResource`,
//! `NotPrincipal`; conditions `{operator: {key: value(s)}}`.

use serde_json::Value;

/// A parsed IAM policy document (identity, resource, boundary or SCP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `2012-10-17` enables policy variables; older or absent versions do not.
    pub version: Option<String>,
    /// The `Statement` element, always a list here even when stored as one object.
    pub statements: Vec<Statement>,
}

/// A statement's `Effect` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `"Allow"`: grants the access the statement matches.
    Allow,
    /// `"Deny"`: refuses it, overriding any Allow.
    Deny,
}

impl Effect {
    /// The value as written in JSON: `"Allow"` or `"Deny"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// One entry of a policy's `Statement` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The optional `Sid` element; `None` when absent or null.
    pub sid: Option<String>,
    /// Position in the policy's statement list, for reports when there is no Sid.
    pub index: usize,
    /// `Effect`: Allow or Deny.
    pub effect: Effect,
    /// `Principal`; `None` when absent, as in identity policies, boundaries and SCPs.
    pub principal: Option<Principals>,
    /// `NotPrincipal`: everyone except these; `None` when absent.
    pub not_principal: Option<Principals>,
    /// `Action` (positive) or `NotAction` (negated).
    pub actions: Option<Matchers>,
    /// `Resource` or `NotResource`; `None` when neither is written (resource policies
    /// may omit it).
    pub resources: Option<Matchers>,
    /// The `Condition` block, one entry per operator and key; empty when absent. All
    /// must hold for the statement to apply.
    pub conditions: Vec<Condition>,
}

/// A list of patterns, or its negation (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matchers {
    /// True for `NotAction` / `NotResource`: the statement applies to what no pattern
    /// matches.
    pub negated: bool,
    /// Action names or ARNs as written, with `*` and `?` wildcards.
    pub patterns: Vec<String>,
}

/// The `Principal` / `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Principals {
    /// `"*"` or `{"AWS": "*"}`.
    pub everyone: bool,
    /// `AWS`: account IDs and ARNs of account roots, roles, role sessions or users
    /// (`"*"` moved to `everyone`).
    pub aws: Vec<String>,
    /// `Service`: service principals such as `bedrock.amazonaws.com`.
    pub service: Vec<String>,
    /// `Federated`: identity providers (SAML or OIDC ARNs, web identity domains).
    pub federated: Vec<String>,
    /// `CanonicalUser`: S3 canonical user IDs.
    pub canonical_user: Vec<String>,
}

/// One `operator: {key: values}` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// As written (`ForAnyValue:StringLikeIfExists`), for reports.
    pub operator_text: String,
    /// `operator_text` read: set qualifier, base test, negation and `IfExists`.
    pub operator: super::condition::Operator,
    /// The condition key as written (`aws:SourceAccount`); looked up case-insensitively.
    pub key: String,
    /// The policy's values for the key, numbers and booleans turned into strings; any
    /// one matching is enough.
    pub values: Vec<String>,
}

/// A policy that is not IAM JSON, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct PolicyError {
    /// Path of the offending field, such as `bucket_policy.Statement[0].Effect`.
    pub field: String,
    /// What is wrong with it, in words (`is missing`, `is not a string`).
    pub problem: String,
}

fn err(field: impl Into<String>, problem: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        problem: problem.into(),
    }
}

impl Policy {
    /// Parses a policy document. `at` prefixes field paths in errors (`bucket_policy`).
    pub fn parse(value: &Value, at: &str) -> Result<Self, PolicyError> {
        let object = value
            .as_object()
            .ok_or_else(|| err(at, "is not a policy document (a JSON object)"))?;
        let version = match object.get("Version") {
            None => None,
            Some(Value::String(v)) => Some(v.clone()),
            Some(_) => return Err(err(format!("{at}.Version"), "is not a string")),
        };
        let statements = match object.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
            Some(item @ Value::Object(_)) => vec![item],
            Some(_) => {
                return Err(err(
                    format!("{at}.Statement"),
                    "is neither a statement nor a list of them",
                ))
            }
            None => return Err(err(format!("{at}.Statement"), "is missing")),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| Statement::parse(s, i, &format!("{at}.Statement[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            version,
            statements,
        })
    }

    /// Whether `${...}` policy variables are substituted (they are only in 2012-10-17).
    pub(crate) fn uses_variables(&self) -> bool {
        self.version.as_deref() == Some("2012-10-17")
    }

    /// Every condition key the policy tests, as written.
    pub(crate) fn condition_keys(&self) -> impl Iterator<Item = &str> {
        self.statements
            .iter()
            .flat_map(|s| s.conditions.iter().map(|c| c.key.as_str()))
    }
}

impl Statement {
    fn parse(value: &Value, index: usize, at: &str) -> Result<Self, PolicyError> {
        let object = value
            .as_object()
            .ok_or_else(|| err(at, "is not an object"))?;
        let sid = match object.get("Sid") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(err(format!("{at}.Sid"), "is not a string")),
        };
        let effect = match object.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            Some(other) => {
                return Err(err(
                    format!("{at}.Effect"),
                    format!("is {other:?}, not Allow or Deny"),
                ))
            }
            None => return Err(err(format!("{at}.Effect"), "is missing")),
        };
        let pair = |positive: &str, negative: &str| -> Result<Option<Matchers>, PolicyError> {
            match (object.get(positive), object.get(negative)) {
                (Some(_), Some(_)) => Err(err(at, format!("has both {positive} and {negative}"))),
                (Some(v), None) => Ok(Some(Matchers {
                    negated: false,
                    patterns: strings(v, &format!("{at}.{positive}"))?,
                })),
                (None, Some(v)) => Ok(Some(Matchers {
                    negated: true,
                    patterns: strings(v, &format!("{at}.{negative}"))?,
                })),
                (None, None) => Ok(None),
            }
        };
        let actions = pair("Action", "NotAction")?;
        if actions.is_none() {
            return Err(err(
                format!("{at}.Action"),
                "is missing (and so is NotAction)",
            ));
        }
        let resources = pair("Resource", "NotResource")?;
        let principal = object
            .get("Principal")
            .map(|p| Principals::parse(p, &format!("{at}.Principal")))
            .transpose()?;
        let not_principal = object
            .get("NotPrincipal")
            .map(|p| Principals::parse(p, &format!("{at}.NotPrincipal")))
            .transpose()?;
        let conditions = match object.get("Condition") {
            None | Some(Value::Null) => Vec::new(),
            Some(c) => parse_conditions(c, &format!("{at}.Condition"))?,
        };
        Ok(Self {
            sid,
            index,
            effect,
            principal,
            not_principal,
            actions,
            resources,
            conditions,
        })
    }

    /// `Sid`, or `#index` when there is none.
    pub fn label(&self) -> String {
        self.sid
            .clone()
            .unwrap_or_else(|| format!("#{}", self.index))
    }
}

impl Principals {
    fn parse(value: &Value, at: &str) -> Result<Self, PolicyError> {
        let mut principals = Principals::default();
        match value {
            Value::String(s) if s == "*" => principals.everyone = true,
            Value::Object(map) => {
                for (kind, v) in map {
                    let list = strings(v, &format!("{at}.{kind}"))?;
                    match kind.as_str() {
                        "AWS" => {
                            if list.iter().any(|p| p == "*") {
                                principals.everyone = true;
                            }
                            principals.aws.extend(list.into_iter().filter(|p| p != "*"));
                        }
                        "Service" => principals.service.extend(list),
                        "Federated" => principals.federated.extend(list),
                        "CanonicalUser" => principals.canonical_user.extend(list),
                        other => {
                            return Err(err(
                                format!("{at}.{other}"),
                                "is not a principal type (AWS, Service, Federated, CanonicalUser)",
                            ))
                        }
                    }
                }
            }
            _ => return Err(err(at, "is neither \"*\" nor an object of principal types")),
        }
        Ok(principals)
    }
}

fn parse_conditions(value: &Value, at: &str) -> Result<Vec<Condition>, PolicyError> {
    let blocks = value
        .as_object()
        .ok_or_else(|| err(at, "is not an object"))?;
    let mut conditions = Vec::new();
    for (operator_text, keys) in blocks {
        let operator = super::condition::Operator::parse(operator_text).ok_or_else(|| {
            err(
                format!("{at}.{operator_text}"),
                "is not a condition operator",
            )
        })?;
        let keys = keys.as_object().ok_or_else(|| {
            err(
                format!("{at}.{operator_text}"),
                "is not an object of condition keys",
            )
        })?;
        for (key, values) in keys {
            conditions.push(Condition {
                operator_text: operator_text.clone(),
                operator,
                key: key.clone(),
                values: scalars(values, &format!("{at}.{operator_text}.{key}"))?,
            });
        }
    }
    Ok(conditions)
}

/// A string or a list of strings.
fn strings(value: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| err(format!("{at}[{i}]"), "is not a string"))
            })
            .collect(),
        _ => Err(err(at, "is neither a string nor a list of strings")),
    }
}

/// Condition values: strings, numbers or booleans, alone or in a list.
fn scalars(value: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value, at: &str| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(err(at, "is not a string, number or boolean")),
    };
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| one(v, &format!("{at}[{i}]")))
            .collect(),
        v => Ok(vec![one(v, at)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_shape_aws_stores() {
        let policy = Policy::parse(
            &json!({"Version": "2012-10-17", "Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::1:root", "*"]},
                "NotAction": "s3:Get*", "NotResource": ["arn:aws:s3:::b/*"],
                "Condition": {"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": ["a*", "b"]}, "Bool": {"aws:SecureTransport": false}}}}),
            "p",
        )
        .unwrap();
        let s = &policy.statements[0];
        assert_eq!(s.effect, Effect::Deny);
        assert!(s.not_principal.as_ref().unwrap().everyone);
        assert!(s.actions.as_ref().unwrap().negated);
        assert_eq!(s.conditions.len(), 2);
        let bool_condition = s
            .conditions
            .iter()
            .find(|c| c.operator_text == "Bool")
            .unwrap();
        assert_eq!(bool_condition.values, ["false"]);
        assert!(policy.uses_variables());
        assert_eq!(s.label(), "#0");
    }

    #[test]
    fn malformed_policies_name_the_field() {
        let cases = [
            (json!([]), "p"),
            (json!({"Statement": 3}), "p.Statement"),
            (
                json!({"Statement": [{"Effect": "Maybe", "Action": "*"}]}),
                "p.Statement[0].Effect",
            ),
            (
                json!({"Statement": [{"Effect": "Allow"}]}),
                "p.Statement[0].Action",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": [1]}]}),
                "p.Statement[0].Action[0]",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "*", "Condition": {"StringMaybe": {"k": "v"}}}]}),
                "p.Statement[0].Condition.StringMaybe",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "*", "Principal": {"Robot": "x"}}]}),
                "p.Statement[0].Principal.Robot",
            ),
        ];
        for (policy, field) in cases {
            assert_eq!(
                Policy::parse(&policy, "p").unwrap_err().field,
                field,
                "{policy}"
            );
        }
    }
}
