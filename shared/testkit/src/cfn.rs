//! Renders Ferry's CloudFormation templates the way CloudFormation would for given
//! parameters: YAML short tags, Ref, Fn::Sub/GetAtt/If/Select/Split/Join, conditions,
//! AWS::NoValue. Enough for the intrinsics `infra/*.yaml` use, so a test can compare
//! the deployed policy documents with `ferry_core::policies`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{Map, Value};

/// A template in CloudFormation's JSON form (short tags expanded).
pub fn load(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let yaml: serde_norway::Value =
        serde_norway::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    to_json(yaml)
}

fn to_json(yaml: serde_norway::Value) -> Result<Value> {
    use serde_norway::Value as Y;
    Ok(match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n)?,
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect::<Result<_>>()?),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    other => bail!("a non-string key: {other:?}"),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(tagged.value)?;
            let key = match name {
                "Ref" | "Condition" => name.to_owned(),
                "GetAtt" => {
                    // `!GetAtt A.B` is the string form of ["A", "B"].
                    let value = match value {
                        Value::String(s) => {
                            let (resource, attribute) =
                                s.split_once('.').ok_or_else(|| anyhow!("!GetAtt {s}"))?;
                            Value::Array(vec![resource.into(), attribute.into()])
                        }
                        other => other,
                    };
                    return Ok(single("Fn::GetAtt", value));
                }
                other => format!("Fn::{other}"),
            };
            single(&key, value)
        }
    })
}

fn single(key: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(key.to_owned(), value);
    Value::Object(map)
}

/// A template with its parameters bound, in one account and region.
pub struct Rendered {
    template: Value,
    values: BTreeMap<String, String>,
    conditions: BTreeMap<String, bool>,
}

impl Rendered {
    pub fn new(
        template: Value,
        params: &[(&str, &str)],
        region: &str,
        account: &str,
    ) -> Result<Self> {
        let mut values = BTreeMap::new();
        if let Some(declared) = template["Parameters"].as_object() {
            for (name, spec) in declared {
                let default = match &spec["Default"] {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                if let Some(default) = default {
                    values.insert(name.clone(), default);
                }
            }
        }
        for (name, value) in params {
            if template["Parameters"].get(*name).is_none() {
                bail!("the template has no parameter {name}");
            }
            values.insert((*name).to_owned(), (*value).to_owned());
        }
        if let Some(declared) = template["Parameters"].as_object() {
            for name in declared.keys() {
                if !values.contains_key(name) {
                    bail!("parameter {name} has no value and no default");
                }
            }
        }
        values.insert("AWS::Region".into(), region.into());
        values.insert("AWS::AccountId".into(), account.into());
        values.insert("AWS::Partition".into(), ferry_partition(region).to_owned());
        values.insert("AWS::StackName".into(), "ferry".into());
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        values.insert("AWS::URLSuffix".into(), suffix.into());
        let mut rendered = Rendered {
            template,
            values,
            conditions: BTreeMap::new(),
        };
        if let Some(conditions) = rendered.template["Conditions"].as_object().cloned() {
            // Conditions may refer to each other; resolve until stable.
            for _ in 0..conditions.len() {
                for (name, expr) in &conditions {
                    if let Ok(v) = rendered.condition(expr) {
                        rendered.conditions.insert(name.clone(), v);
                    }
                }
            }
            for name in conditions.keys() {
                if !rendered.conditions.contains_key(name) {
                    bail!("condition {name} cannot be evaluated");
                }
            }
        }
        Ok(rendered)
    }

    pub fn condition_value(&self, name: &str) -> Option<bool> {
        self.conditions.get(name).copied()
    }

    /// The resource's properties, evaluated; None when its Condition is false.
    pub fn resource(&self, logical_id: &str) -> Result<Option<Value>> {
        let resource = self.template["Resources"]
            .get(logical_id)
            .ok_or_else(|| anyhow!("no resource {logical_id}"))?;
        if let Some(condition) = resource["Condition"].as_str() {
            if !self.conditions.get(condition).copied().unwrap_or(false) {
                return Ok(None);
            }
        }
        Ok(Some(
            self.eval(&resource["Properties"])?.unwrap_or(Value::Null),
        ))
    }

    pub fn resource_types(&self) -> BTreeMap<String, String> {
        self.template["Resources"]
            .as_object()
            .map(|r| {
                r.iter()
                    .map(|(k, v)| (k.clone(), v["Type"].as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn condition(&self, expr: &Value) -> Result<bool> {
        let (key, arg) = intrinsic(expr).ok_or_else(|| anyhow!("not a condition: {expr}"))?;
        match key {
            "Fn::Equals" => {
                let a = self.eval(&arg[0])?;
                let b = self.eval(&arg[1])?;
                Ok(a == b)
            }
            "Fn::Not" => Ok(!self.condition(&arg[0])?),
            "Fn::And" => all(arg, |e| self.condition(e)),
            "Fn::Or" => Ok(!all(arg, |e| self.condition(e).map(|v| !v))?),
            "Condition" => {
                let name = arg.as_str().unwrap_or_default();
                self.conditions
                    .get(name)
                    .copied()
                    .ok_or_else(|| anyhow!("condition {name} not yet known"))
            }
            other => bail!("{other} in a condition"),
        }
    }

    /// None is AWS::NoValue.
    pub fn eval(&self, v: &Value) -> Result<Option<Value>> {
        if let Some((key, arg)) = intrinsic(v) {
            return self.intrinsic(key, arg);
        }
        Ok(Some(match v {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    if let Some(item) = self.eval(item)? {
                        out.push(item);
                    }
                }
                Value::Array(out)
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, item) in map {
                    if let Some(item) = self.eval(item)? {
                        out.insert(k.clone(), item);
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        }))
    }

    fn intrinsic(&self, key: &str, arg: &Value) -> Result<Option<Value>> {
        let string = |v: Option<Value>| -> Result<String> {
            match v {
                Some(Value::String(s)) => Ok(s),
                other => bail!("expected a string, got {other:?}"),
            }
        };
        Ok(Some(match key {
            "Ref" => {
                let name = arg.as_str().unwrap_or_default();
                if name == "AWS::NoValue" {
                    return Ok(None);
                }
                Value::String(self.reference(name)?)
            }
            "Fn::Sub" => {
                let (text, vars) = match arg {
                    Value::String(s) => (s.clone(), Map::new()),
                    Value::Array(pair) if pair.len() == 2 => (
                        pair[0].as_str().unwrap_or_default().to_owned(),
                        pair[1].as_object().cloned().unwrap_or_default(),
                    ),
                    other => bail!("Fn::Sub {other}"),
                };
                let mut local = BTreeMap::new();
                for (name, expr) in vars {
                    local.insert(name, string(self.eval(&expr)?)?);
                }
                Value::String(self.substitute(&text, &local)?)
            }
            "Fn::GetAtt" => {
                let resource = arg[0].as_str().unwrap_or_default();
                let attribute = arg[1].as_str().unwrap_or_default();
                Value::String(self.attribute(resource, attribute)?)
            }
            "Fn::If" => {
                let name = arg[0].as_str().unwrap_or_default();
                let chosen = self
                    .conditions
                    .get(name)
                    .copied()
                    .ok_or_else(|| anyhow!("unknown condition {name}"))?;
                return self.eval(&arg[if chosen { 1 } else { 2 }]);
            }
            "Fn::Select" => {
                let index = match &arg[0] {
                    Value::Number(n) => n.as_u64().unwrap_or(u64::MAX),
                    Value::String(s) => s.parse().unwrap_or(u64::MAX),
                    _ => u64::MAX,
                };
                let list = self.eval(&arg[1])?.unwrap_or(Value::Null);
                list.get(usize::try_from(index).unwrap_or(usize::MAX))
                    .cloned()
                    .ok_or_else(|| anyhow!("Fn::Select {index} out of range in {list}"))?
            }
            "Fn::Split" => {
                let delimiter = arg[0].as_str().unwrap_or_default();
                let text = string(self.eval(&arg[1])?)?;
                Value::Array(
                    text.split(delimiter)
                        .map(|s| Value::String(s.into()))
                        .collect(),
                )
            }
            "Fn::Join" => {
                let delimiter = arg[0].as_str().unwrap_or_default();
                let parts = self.eval(&arg[1])?.unwrap_or(Value::Null);
                let parts: Vec<String> = parts
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|p| p.as_str().unwrap_or_default().to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                Value::String(parts.join(delimiter))
            }
            other => bail!("intrinsic {other} is not supported by the test renderer"),
        }))
    }

    fn substitute(&self, text: &str, local: &BTreeMap<String, String>) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| anyhow!("unclosed ${{ in {text}"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(v) = local.get(name) {
                out.push_str(v);
            } else if let Some((resource, attribute)) = name.split_once('.') {
                out.push_str(&self.attribute(resource, attribute)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn reference(&self, name: &str) -> Result<String> {
        if let Some(v) = self.values.get(name) {
            return Ok(v.clone());
        }
        let resource = self.template["Resources"]
            .get(name)
            .ok_or_else(|| anyhow!("Ref to unknown {name}"))?;
        let props = self.eval(&resource["Properties"])?.unwrap_or(Value::Null);
        let named = |field: &str| props[field].as_str().map(str::to_owned);
        Ok(match resource["Type"].as_str().unwrap_or_default() {
            "AWS::IAM::Role" => named("RoleName"),
            "AWS::DynamoDB::Table" => named("TableName"),
            "AWS::SNS::Topic" => named("TopicName").map(|n| self.arn("sns", &n)),
            "AWS::Logs::LogGroup" => named("LogGroupName"),
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => named("FunctionName"),
            "AWS::KMS::Key" => Some(format!("key-{name}")),
            _ => None,
        }
        .unwrap_or_else(|| name.to_owned()))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String> {
        let spec = self.template["Resources"]
            .get(resource)
            .ok_or_else(|| anyhow!("GetAtt of unknown {resource}"))?;
        let kind = spec["Type"].as_str().unwrap_or_default();
        let id = self.reference(resource)?;
        let partition = &self.values["AWS::Partition"];
        let account = &self.values["AWS::AccountId"];
        Ok(match (kind, attribute) {
            ("AWS::IAM::Role", "Arn") => format!("arn:{partition}:iam::{account}:role/{id}"),
            ("AWS::KMS::Key", "Arn") => self.arn("kms", &format!("key/{id}")),
            ("AWS::SQS::Queue", "QueueName") => id,
            (_, "Arn") => self.arn(
                kind.split("::")
                    .nth(1)
                    .unwrap_or("x")
                    .to_lowercase()
                    .as_str(),
                &id,
            ),
            _ => format!("{resource}.{attribute}"),
        })
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.values["AWS::Partition"],
            self.values["AWS::Region"],
            self.values["AWS::AccountId"]
        )
    }
}

fn all(items: &Value, mut f: impl FnMut(&Value) -> Result<bool>) -> Result<bool> {
    for item in items.as_array().map(Vec::as_slice).unwrap_or_default() {
        if !f(item)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `{"Ref": ..}`, `{"Fn::X": ..}` or `{"Condition": ..}` (a one-key object).
fn intrinsic(v: &Value) -> Option<(&str, &Value)> {
    let map = v.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (key, arg) = map.iter().next()?;
    (key == "Ref" || key == "Condition" || key.starts_with("Fn::")).then_some((key.as_str(), arg))
}

fn ferry_partition(region: &str) -> &'static str {
    if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("cn-") {
        "aws-cn"
    } else {
        "aws"
    }
}

/// moto (5.2) keeps an `AWS::NoValue` list item as `null`, where CloudFormation drops
/// it; a policy with a `null` statement is then malformed. This resolves just those
/// list-item `Fn::If`s (with the conditions of `rendered`) before moto sees the
/// template; everything else is left for moto to evaluate.
pub fn resolve_optional_list_items(value: &mut Value, rendered: &Rendered) {
    match value {
        Value::Array(items) => {
            let mut kept = Vec::with_capacity(items.len());
            for mut item in std::mem::take(items) {
                if let Some(("Fn::If", arg)) = intrinsic(&item) {
                    let is_no_value =
                        |v: &Value| v.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue");
                    if is_no_value(&arg[1]) || is_no_value(&arg[2]) {
                        let chosen = rendered
                            .condition_value(arg[0].as_str().unwrap_or_default())
                            .unwrap_or(false);
                        let branch = arg[if chosen { 1 } else { 2 }].clone();
                        if is_no_value(&branch) {
                            continue;
                        }
                        item = branch;
                    }
                }
                resolve_optional_list_items(&mut item, rendered);
                kept.push(item);
            }
            *items = kept;
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                resolve_optional_list_items(item, rendered);
            }
        }
        _ => {}
    }
}
