//! What the importer is invoked with: S3 notifications, EventBridge "Object Created",
//! SNS-wrapped S3 notifications, and SQS batches carrying any of these. A payload's
//! kind is told by a few fields (`Event`, `Type`, `source`, `Records`, each record's
//! `eventSource`); each kind's fields are read into small `Deserialize` structs through
//! `serde_path_to_error`, so that a malformed event names the exact field.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, MapDeserializer};
use serde::de::{Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::text::{echo, ECHO_MAX_CHARS};

/// One object that was created (or removed) in S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// The bucket's name.
    pub bucket: String,
    /// Decoded: `red+flower.jpg` in the event is `red flower.jpg` here.
    pub key: String,
    /// The object's size in bytes; `None` when the event has none (removals carry none).
    pub size: Option<u64>,
    /// The object's ETag, when the event carries one.
    pub etag: Option<String>,
    /// The object's version id; `None` on an unversioned bucket.
    pub version_id: Option<String>,
    /// S3's `sequencer`: orders the events of one key only, never of two keys.
    pub sequencer: Option<String>,
    /// Whether the object was created (`ObjectCreated:*`, or EventBridge's "Object
    /// Created"); `false` for removals and other S3 events, which the importer ignores.
    pub created: bool,
}

/// A Ferry state-change event (`source` `ferry`) a stage's account forwarded: the
/// fields a promotion reads. It only wakes the importer; the stage's ledger decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChangeEvent {
    /// The envelope's `account`: where the event was put (EventBridge sets it).
    pub account: String,
    /// `detail.stage`; `None` from a deployment without stages.
    pub stage: Option<String>,
    /// `detail.fingerprint`: 64 hex digits.
    pub fingerprint: String,
    /// `detail.folder`: `s3://bucket/prefix/`.
    pub folder: String,
    /// `detail.state` (`Verified`, `Released`...).
    pub state: String,
}

/// A whole invocation payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Records or an EventBridge event with something Ferry may act on.
    Events(Events),
    /// Nothing Ferry acts on (an `s3:TestEvent`, another service's event).
    Ignored(String),
}

/// What one payload holds. Each record is judged on its own: a record of another
/// source is ignored (noted in `ignored`) and the S3 records beside it are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Events {
    /// SQS messages (top level only): each is judged on its own (partial batch failures).
    pub messages: Vec<SqsMessage>,
    /// S3 objects, from a direct, EventBridge or SNS delivery.
    pub objects: Vec<ObjectEvent>,
    /// Ferry's state changes from the stages' accounts (EventBridge): promotions' triggers.
    pub state_changes: Vec<StateChangeEvent>,
    /// Why each ignored record was ignored, with its path; at most `MAX_IGNORED`
    /// notes (the last one counts the rest).
    pub ignored: Vec<String>,
}

/// Notes kept of ignored records: a hostile list of many foreign records makes a few
/// log lines, not thousands.
pub(crate) const MAX_IGNORED: usize = 10;

/// One message of an SQS batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(expecting = "an SQS record (an object)")]
pub struct SqsMessage {
    /// SQS `messageId`: what a partial batch failure names to have the message retried.
    #[serde(rename = "messageId", deserialize_with = "text")]
    pub message_id: String,
    /// The message body as sent, read with [`parse_body`]: an S3 notification, an
    /// EventBridge event or an SNS envelope, as JSON text.
    #[serde(deserialize_with = "text")]
    pub body: String,
}

/// A malformed event: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {field}: {problem}")]
pub struct EventError {
    /// Path of the field in the payload (`Records[0].s3.object.size`,
    /// `body.detail.object.key`).
    pub field: String,
    /// What is wrong with it (`is "big", not a size in bytes`).
    pub problem: String,
}

fn error(field: impl Into<String>, problem: impl Into<String>) -> EventError {
    EventError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The importer's payload as the Lambda runtime hands it over, already classified.
/// Its deserialization never fails on JSON: a malformed event is kept as its [`EventError`], so
/// that the function reports it as `Ferry.MalformedEvent` with Ferry's message rather
/// than as the runtime's own deserialization error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImporterEvent {
    /// What the payload holds, or what is wrong with it.
    pub invocation: Result<Invocation, EventError>,
}

impl ImporterEvent {
    /// Classifies a payload (what deserializing does).
    pub fn parse(payload: &Value) -> Self {
        Self {
            invocation: parse_invocation(payload),
        }
    }
}

impl<'de> Deserialize<'de> for ImporterEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&Value::deserialize(deserializer)?))
    }
}

/// Classifies the top-level payload the function was invoked with.
pub fn parse_invocation(event: &Value) -> Result<Invocation, EventError> {
    parse_payload(event, "", true)
}

/// Parses a message body (from SQS) or the payload itself: S3 notification,
/// EventBridge event, SNS envelope or SNS Lambda event.
pub fn parse_body(body: &str) -> Result<Invocation, EventError> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| error("body", format!("is not JSON ({e})")))?;
    parse_payload(&value, "body.", false)
}

/// `top`: the function's own payload, where SQS batches are delivered.
fn parse_payload(value: &Value, at: &str, top: bool) -> Result<Invocation, EventError> {
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Invocation::Ignored(
            "s3:TestEvent sent when the notification was configured".into(),
        ));
    }
    // SNS envelope as SQS delivers it without raw message delivery.
    if value.get("Type").and_then(Value::as_str) == Some("Notification") {
        return parse_sns_message(value, at);
    }
    if let Some(source) = value.get("source").and_then(Value::as_str) {
        return parse_eventbridge(value, source, at);
    }
    let Some(records) = value.get("Records") else {
        return Ok(Invocation::Ignored(describe_foreign(value)));
    };
    let records = records
        .as_array()
        .ok_or_else(|| error(format!("{at}Records"), "is not a list"))?;
    let mut events = Events::default();
    for (i, record) in records.iter().enumerate() {
        parse_record(record, &format!("{at}Records[{i}]"), top, &mut events)?;
    }
    // Only foreign records: the payload as a whole is not for Ferry.
    if events.messages.is_empty()
        && events.objects.is_empty()
        && events.state_changes.is_empty()
        && !events.ignored.is_empty()
    {
        return Ok(Invocation::Ignored(cap_notes(events.ignored).join("; ")));
    }
    events.ignored = cap_notes(events.ignored);
    Ok(Invocation::Events(events))
}

/// One record of a `Records` list, judged by its own source.
fn parse_record(
    record: &Value,
    path: &str,
    top: bool,
    events: &mut Events,
) -> Result<(), EventError> {
    let source = record
        .get("eventSource")
        .or_else(|| record.get("EventSource"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let at = format!("{path}.");
    match source {
        "aws:s3" => events
            .objects
            .push(typed::<S3Record>(record, &at)?.into_object(&at)?),
        "aws:sqs" if top => events.messages.push(typed(record, &at)?),
        "aws:sns" => match parse_sns(record, &format!("{path}.Sns"))? {
            Invocation::Events(inner) => {
                events.objects.extend(inner.objects);
                events.state_changes.extend(inner.state_changes);
                events.ignored.extend(inner.ignored);
            }
            Invocation::Ignored(reason) => {
                events.ignored.push(format!("{path}.Sns.Message: {reason}"))
            }
        },
        "" => return Err(error(format!("{path}.eventSource"), "is missing")),
        other => events
            .ignored
            .push(format!("{path}: a record from {}, not S3", echo(other))),
    }
    Ok(())
}

/// An SNS record's message, itself an S3 notification (or anything else).
fn parse_sns(record: &Value, at: &str) -> Result<Invocation, EventError> {
    let sns = record.get("Sns").ok_or_else(|| error(at, "is missing"))?;
    parse_sns_message(sns, &format!("{at}."))
}

/// The `Message` of an SNS notification (`at` is its path, ending in `.` unless empty).
fn parse_sns_message(sns: &Value, at: &str) -> Result<Invocation, EventError> {
    let SnsNotification { message } = typed(sns, at)?;
    let inner: Value = serde_json::from_str(&message)
        .map_err(|e| error(format!("{at}Message"), format!("is not JSON ({e})")))?;
    parse_payload(&inner, &format!("{at}Message."), false)
}

/// Keeps the first notes and counts the rest.
fn cap_notes(mut notes: Vec<String>) -> Vec<String> {
    if notes.len() > MAX_IGNORED {
        let rest = notes.len() - (MAX_IGNORED - 1);
        notes.truncate(MAX_IGNORED - 1);
        notes.push(format!("and {rest} more record(s) of other sources"));
    }
    notes
}

fn parse_eventbridge(value: &Value, source: &str, at: &str) -> Result<Invocation, EventError> {
    let detail_type = value
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if source == crate::outbox::SOURCE && detail_type == crate::outbox::DETAIL_TYPE {
        return Ok(Invocation::Events(Events {
            state_changes: vec![state_change(value, at)?],
            ..Events::default()
        }));
    }
    if source != "aws.s3" {
        return Ok(Invocation::Ignored(format!(
            "an EventBridge event from {source} ({detail_type})"
        )));
    }
    let created = match detail_type {
        "Object Created" => true,
        "Object Deleted" => false,
        other => return Ok(Invocation::Ignored(format!("an S3 {other:?} event"))),
    };
    let EventBridgeS3 { detail } = typed(value, at)?;
    let object_at = format!("{at}detail.object.");
    let object = detail.object;
    let object = ObjectEvent {
        bucket: detail.bucket.name,
        key: decode_key(&object.key, &format!("{object_at}key"))?,
        size: object.size,
        etag: object.etag,
        version_id: object.version_id,
        sequencer: object.sequencer,
        created,
    };
    Ok(Invocation::Events(Events {
        objects: vec![object],
        ..Events::default()
    }))
}

/// A Ferry state-change event's envelope and detail, as far as promotion reads them.
#[derive(Deserialize)]
#[serde(expecting = "a Ferry state-change event (an object)")]
struct FerryEvent {
    #[serde(deserialize_with = "text")]
    account: String,
    #[serde(deserialize_with = "object")]
    detail: FerryDetail,
}

#[derive(Deserialize)]
#[serde(expecting = "a Ferry state-change detail (an object)")]
struct FerryDetail {
    #[serde(default, deserialize_with = "optional_text")]
    stage: Option<String>,
    #[serde(deserialize_with = "text")]
    fingerprint: String,
    #[serde(deserialize_with = "text")]
    folder: String,
    #[serde(deserialize_with = "text")]
    state: String,
}

/// Reads a state-change event; the account and the fingerprint must look like theirs.
fn state_change(value: &Value, at: &str) -> Result<StateChangeEvent, EventError> {
    let FerryEvent { account, detail } = typed(value, at)?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error(
            format!("{at}account"),
            format!("is {:?}, not a 12-digit account id", echo(&account)),
        ));
    }
    let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    if detail.fingerprint.len() != 64 || !detail.fingerprint.bytes().all(hex) {
        return Err(error(
            format!("{at}detail.fingerprint"),
            format!(
                "is {:?}, not 64 lowercase hex digits",
                echo(&detail.fingerprint)
            ),
        ));
    }
    if let Some(stage) = detail
        .stage
        .as_deref()
        .filter(|s| !crate::stages::is_stage_name(s))
    {
        return Err(error(
            format!("{at}detail.stage"),
            format!("is {:?}, not a stage name", echo(stage)),
        ));
    }
    // A bucket name and a key at most: S3's limits.
    if detail.folder.len() > 5 + 63 + 1 + 1024 {
        return Err(error(
            format!("{at}detail.folder"),
            format!(
                "is {} bytes, longer than any s3:// folder",
                detail.folder.len()
            ),
        ));
    }
    if crate::import::ImportState::parse(&detail.state).is_none() {
        return Err(error(
            format!("{at}detail.state"),
            format!("is {:?}, not a state of Ferry's", echo(&detail.state)),
        ));
    }
    Ok(StateChangeEvent {
        account,
        stage: detail.stage,
        fingerprint: detail.fingerprint,
        folder: detail.folder,
        state: detail.state,
    })
}

/// An S3 notification record (`eventSource` `aws:s3`): the fields Ferry reads.
#[derive(Deserialize)]
#[serde(expecting = "an S3 record (an object)")]
struct S3Record {
    #[serde(rename = "eventName", deserialize_with = "text")]
    event_name: String,
    #[serde(deserialize_with = "object")]
    s3: S3Entity,
}

#[derive(Deserialize)]
#[serde(expecting = "an object")]
struct S3Entity {
    #[serde(deserialize_with = "object")]
    bucket: Bucket,
    #[serde(deserialize_with = "object")]
    object: S3Object,
}

#[derive(Deserialize)]
#[serde(expecting = "an object")]
struct Bucket {
    #[serde(deserialize_with = "text")]
    name: String,
}

/// The object of an S3 notification (camelCase names).
#[derive(Deserialize)]
#[serde(expecting = "an object")]
struct S3Object {
    #[serde(deserialize_with = "text")]
    key: String,
    #[serde(default, deserialize_with = "size")]
    size: Option<u64>,
    #[serde(rename = "eTag", default, deserialize_with = "optional_text")]
    etag: Option<String>,
    #[serde(rename = "versionId", default, deserialize_with = "optional_text")]
    version_id: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    sequencer: Option<String>,
}

impl S3Record {
    fn into_object(self, at: &str) -> Result<ObjectEvent, EventError> {
        let object = self.s3.object;
        Ok(ObjectEvent {
            bucket: self.s3.bucket.name,
            key: decode_key(&object.key, &format!("{at}s3.object.key"))?,
            size: object.size,
            etag: object.etag,
            version_id: object.version_id,
            sequencer: object.sequencer,
            created: self.event_name.starts_with("ObjectCreated:"),
        })
    }
}

/// An EventBridge event from `aws.s3`: its detail.
#[derive(Deserialize)]
#[serde(expecting = "an EventBridge event (an object)")]
struct EventBridgeS3 {
    #[serde(deserialize_with = "object")]
    detail: EventBridgeDetail,
}

#[derive(Deserialize)]
#[serde(expecting = "an object")]
struct EventBridgeDetail {
    #[serde(deserialize_with = "object")]
    bucket: Bucket,
    #[serde(deserialize_with = "object")]
    object: EventBridgeObject,
}

/// The object of an EventBridge S3 event (kebab-case names, `etag` in lower case).
#[derive(Deserialize)]
#[serde(expecting = "an object")]
struct EventBridgeObject {
    #[serde(deserialize_with = "text")]
    key: String,
    #[serde(default, deserialize_with = "size")]
    size: Option<u64>,
    #[serde(default, deserialize_with = "optional_text")]
    etag: Option<String>,
    #[serde(rename = "version-id", default, deserialize_with = "optional_text")]
    version_id: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    sequencer: Option<String>,
}

/// An SNS notification (an SNS record's `Sns`, or the envelope SQS delivers).
#[derive(Deserialize)]
#[serde(expecting = "an SNS notification (an object)")]
struct SnsNotification {
    #[serde(rename = "Message", deserialize_with = "text")]
    message: String,
}

/// Reads `value` (found at path `at`, ending in `.` unless empty) as a `T`; an error
/// names the field: a missing one by its own path (`Records[0].s3.object.key: is
/// missing`), any other by the path of the value at fault.
fn typed<'v, T: Deserialize<'v>>(value: &'v Value, at: &str) -> Result<T, EventError> {
    let read: Result<Object<T>, _> = serde_path_to_error::deserialize(value);
    read.map(|Object(inner)| inner).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        // serde's own messages may quote a value whole: shown shortened.
        let problem =
            crate::text::truncate(&e.into_inner().to_string(), 4 * ECHO_MAX_CHARS).into_owned();
        let missing = problem
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'));
        match missing {
            Some(name) if path.is_empty() => error(format!("{at}{name}"), "is missing"),
            Some(name) => error(format!("{at}{path}.{name}"), "is missing"),
            None => error(format!("{at}{path}").trim_end_matches('.'), problem),
        }
    })
}

/// A `T` read only from an object, with its path kept. Any other kind of value reads
/// as an object with no fields, so that the error names the first field then missing
/// (`Records[0].s3.bucket: is missing`), as `Value::get` did on a non-object, and a
/// list or a string never stands in for an object nor is quoted whole.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ObjectOnly(PhantomData))
            .map(Object)
    }
}

/// A nested object field (see [`Object`]).
fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    Object::deserialize(deserializer).map(|Object(inner)| inner)
}

struct ObjectOnly<T>(PhantomData<T>);

impl<T> ObjectOnly<T> {
    fn empty<'de, E: serde::de::Error>(self) -> Result<T, E>
    where
        T: Deserialize<'de>,
    {
        T::deserialize(MapDeserializer::<_, E>::new(std::iter::empty::<((), ())>()))
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        self.empty()
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<T, E> {
        self.empty()
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<T, E> {
        self.empty()
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<T, E> {
        self.empty()
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<T, E> {
        self.empty()
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<T, E> {
        self.empty()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<T, E> {
        self.empty()
    }
}

/// A string field; anything else is echoed (`is 5, not a string`).
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(s) => Ok(s),
        other => Err(not_a_string(&other)),
    }
}

/// An optional string field: absent or null is `None`.
fn optional_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(not_a_string(&other)),
    }
}

fn not_a_string<E: serde::de::Error>(value: &Value) -> E {
    E::custom(format!("is {}, not a string", echo_value(value)))
}

/// An object's size in bytes: absent or null is `None`.
fn size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        value => value.as_u64().map(Some).ok_or_else(|| {
            D::Error::custom(format!("is {}, not a size in bytes", echo_value(&value)))
        }),
    }
}

/// S3 form-encodes keys in events: `+` is a space, `%XX` a byte.
pub(crate) fn decode_key(raw: &str, field: &str) -> Result<String, EventError> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| error(field, format!("{:?} does not decode to UTF-8", echo(raw))))
}

fn describe_foreign(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().take(5).map(|k| echo(k).into_owned()).collect();
            format!("an event with fields {keys:?}, not an S3 notification")
        }
        Value::String(s) if holds_json(s) => {
            "the payload is a string holding JSON (encoded twice?), not an S3 notification".into()
        }
        other => format!(
            "the payload is {}, not an S3 notification",
            crate::validate::json_kind(other)
        ),
    }
}

/// A string that is itself a JSON object or list: JSON encoded twice.
fn holds_json(s: &str) -> bool {
    serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object() || v.is_array())
}

/// A JSON value as echoed in an error: serialized only as far as it is shown.
fn echo_value(value: &Value) -> String {
    // Each char takes at most 4 bytes: the first ECHO_MAX_CHARS + 1 are always whole.
    let mut out = Capped(Vec::with_capacity(64), 4 * (ECHO_MAX_CHARS + 1));
    // Stops with an error once the cap is reached: the prefix is what is shown.
    let _ = serde_json::to_writer(&mut out, value);
    echo(&String::from_utf8_lossy(&out.0)).into_owned()
}

/// A writer that keeps at most `.1` bytes and then refuses.
struct Capped(Vec<u8>, usize);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.1.saturating_sub(self.0.len());
        if room == 0 && !buf.is_empty() {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let n = room.min(buf.len());
        self.0.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_record(key: &str) -> Value {
        json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
               "eventTime": "2026-11-22T07:00:00.000Z", "eventName": "ObjectCreated:Put",
               "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "research", "arn": "arn:aws:s3:::research"},
                      "object": {"key": key, "size": 1234, "eTag": "0123abc", "versionId": null, "sequencer": "0062"}}})
    }

    fn eventbridge(key: &str) -> Value {
        json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
               "account": "111122223333", "time": "2026-11-22T07:00:00Z", "region": "us-east-1",
               "resources": ["arn:aws:s3:::research"],
               "detail": {"version": "0", "bucket": {"name": "research"},
                          "object": {"key": key, "size": 5, "etag": "e", "version-id": "v1", "sequencer": "s"},
                          "request-id": "r", "requester": "111122223333", "reason": "PutObject"}})
    }

    fn objects(inv: Invocation) -> Vec<ObjectEvent> {
        match inv {
            Invocation::Events(e) => e.objects,
            other => panic!("expected objects, got {other:?}"),
        }
    }

    #[test]
    fn direct_notifications_decode_keys() {
        let event = json!({"Records": [s3_record("models/my+model/config%2Bv2.json")]});
        let o = objects(parse_invocation(&event).unwrap());
        assert_eq!(o[0].key, "models/my model/config+v2.json");
        assert_eq!(
            (o[0].bucket.as_str(), o[0].size, o[0].created),
            ("research", Some(1234), true)
        );
        assert_eq!(o[0].version_id, None);
    }

    #[test]
    fn eventbridge_sns_and_sqs_deliveries() {
        let o = objects(parse_invocation(&eventbridge("m/a+b.json")).unwrap());
        assert_eq!(
            (o[0].key.as_str(), o[0].version_id.as_deref()),
            ("m/a b.json", Some("v1"))
        );

        let notification = json!({"Records": [s3_record("m/config.json")]}).to_string();
        let sns = json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
            "Sns": {"Type": "Notification", "MessageId": "x", "Subject": "Amazon S3 Notification", "Message": notification}}]});
        assert_eq!(
            objects(parse_invocation(&sns).unwrap())[0].key,
            "m/config.json"
        );

        let envelope = json!({"Type": "Notification", "Message": notification}).to_string();
        let sqs = json!({"Records": [
            {"messageId": "a", "body": envelope, "eventSource": "aws:sqs"},
            {"messageId": "b", "body": eventbridge("m/x").to_string(), "eventSource": "aws:sqs"}]});
        let Invocation::Events(Events { messages, .. }) = parse_invocation(&sqs).unwrap() else {
            panic!()
        };
        assert_eq!(messages.len(), 2);
        assert_eq!(
            objects(parse_body(&messages[0].body).unwrap())[0].key,
            "m/config.json"
        );
        assert_eq!(
            objects(parse_body(&messages[1].body).unwrap())[0].key,
            "m/x"
        );
    }

    #[test]
    fn foreign_and_test_events_are_ignored() {
        let cases = [
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "research"}),
            json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}),
            json!({"source": "aws.s3", "detail-type": "Object Restore Completed", "detail": {}}),
            json!({"Records": [{"eventSource": "aws:dynamodb"}]}),
            json!({"action": "sweep"}),
            json!([1, 2]),
        ];
        for case in cases {
            assert!(
                matches!(parse_invocation(&case), Ok(Invocation::Ignored(_))),
                "{case}"
            );
        }
    }

    #[test]
    fn malformed_events_name_the_field() {
        let mut no_key = s3_record("k");
        no_key["s3"]["object"]
            .as_object_mut()
            .unwrap()
            .remove("key");
        let mut bad_size = s3_record("k");
        bad_size["s3"]["object"]["size"] = json!("big");
        let cases = [
            (json!({"Records": {}}), "Records"),
            (json!({"Records": [no_key]}), "Records[0].s3.object.key"),
            (json!({"Records": [bad_size]}), "Records[0].s3.object.size"),
            (
                json!({"Records": [s3_record("%FF")]}),
                "Records[0].s3.object.key",
            ),
            (
                json!({"Records": [{"eventSource": "aws:sqs", "messageId": "a"}]}),
                "Records[0].body",
            ),
            (
                json!({"source": "aws.s3", "detail-type": "Object Created"}),
                "detail",
            ),
            (
                json!({"Records": [{"eventName": "x"}]}),
                "Records[0].eventSource",
            ),
        ];
        for (event, field) in cases {
            let err = parse_invocation(&event).unwrap_err();
            assert_eq!(err.field, field, "{event}: {err}");
        }
        assert_eq!(parse_body("nope").unwrap_err().field, "body");
        let sns_bad = json!({"Type": "Notification", "Message": "{"}).to_string();
        assert_eq!(parse_body(&sns_bad).unwrap_err().field, "body.Message");
    }

    #[test]
    fn a_container_that_is_not_an_object_names_its_first_field_and_is_not_echoed() {
        let huge = "x".repeat(100_000);
        let with = |path: &[&str], value: Value| {
            let mut record = s3_record("k");
            let (last, parents) = path.split_last().unwrap();
            let mut at = &mut record;
            for name in parents {
                at = &mut at[*name];
            }
            at[*last] = value;
            json!({ "Records": [record] })
        };
        let cases = [
            (with(&["s3"], json!(huge)), "Records[0].s3.bucket"),
            (
                with(&["s3", "object"], json!(["k", 5])),
                "Records[0].s3.object.key",
            ),
            (
                with(&["s3", "bucket"], json!(["research"])),
                "Records[0].s3.bucket.name",
            ),
            (with(&["s3"], Value::Null), "Records[0].s3.bucket"),
            (
                json!({"Records": [{"EventSource": "aws:sns", "Sns": huge}]}),
                "Records[0].Sns.Message",
            ),
            (
                json!({"source": "aws.s3", "detail-type": "Object Created", "detail": [huge]}),
                "detail.bucket",
            ),
        ];
        for (event, field) in cases {
            let err = parse_invocation(&event).unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(
                err.to_string().len() < 1_000,
                "{} bytes",
                err.to_string().len()
            );
        }
    }

    #[test]
    fn each_record_is_judged_and_only_foreign_ones_are_ignored() {
        let inner = json!({"Records": [s3_record("m/b"), {"eventSource": "aws:ses"}]});
        let event = json!({"Records": [
            {"eventSource": "aws:dynamodb"},
            s3_record("m/a"),
            {"EventSource": "aws:sns", "Sns": {"Message": inner.to_string()}},
        ]});
        let Invocation::Events(events) = parse_invocation(&event).unwrap() else {
            panic!()
        };
        let keys: Vec<&str> = events.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["m/a", "m/b"]);
        assert_eq!(
            events.ignored,
            [
                "Records[0]: a record from aws:dynamodb, not S3",
                "Records[2].Sns.Message.Records[1]: a record from aws:ses, not S3",
            ]
        );
        // An SQS record inside a message is not a batch: foreign there.
        let body = json!({"Records": [s3_record("m/c"), {"eventSource": "aws:sqs"}]});
        let Invocation::Events(events) = parse_body(&body.to_string()).unwrap() else {
            panic!()
        };
        assert_eq!((events.objects.len(), events.messages.len()), (1, 0));
        assert_eq!(events.ignored.len(), 1);
    }

    #[test]
    fn notes_of_ignored_records_are_bounded() {
        let mut records = vec![json!({"eventSource": "x".repeat(100_000)}); 500];
        records.push(s3_record("m/a"));
        let Invocation::Events(events) = parse_invocation(&json!({ "Records": records })).unwrap()
        else {
            panic!()
        };
        assert_eq!(events.ignored.len(), MAX_IGNORED);
        assert_eq!(
            events.ignored[MAX_IGNORED - 1],
            "and 491 more record(s) of other sources"
        );
        assert!(events.ignored.iter().all(|n| n.chars().count() < 300));
        records.pop();
        let Invocation::Ignored(reason) = parse_invocation(&json!({ "Records": records })).unwrap()
        else {
            panic!()
        };
        assert!(reason.len() < 3000, "{} bytes", reason.len());
    }

    #[test]
    fn echoed_values_are_cut_at_200_characters() {
        let mut event = s3_record("k");
        event["s3"]["bucket"]["name"] = json!(["é".repeat(100_000)]);
        let err = parse_invocation(&json!({"Records": [event]})).unwrap_err();
        let shown = err.problem.strip_prefix("is ").unwrap();
        let shown = shown.strip_suffix(", not a string").unwrap();
        assert_eq!(shown.chars().count(), ECHO_MAX_CHARS, "{shown}");
        assert!(
            shown.starts_with("[\"ééé") && shown.ends_with("é…"),
            "{shown}"
        );

        let key = format!("%FF{}", "a".repeat(10_000));
        let err = parse_invocation(&json!({"Records": [s3_record(&key)]})).unwrap_err();
        assert!(err.problem.len() < 300, "{}", err.problem);

        let mut fields = serde_json::Map::new();
        fields.insert("k".repeat(50_000), json!(1));
        let Invocation::Ignored(reason) = parse_invocation(&Value::Object(fields)).unwrap() else {
            panic!()
        };
        assert!(reason.len() < 400, "{reason}");
        // Short values are shown whole.
        assert_eq!(echo_value(&json!([1, 2])), "[1,2]");
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_named_plainly() {
        let twice = json!(json!({"Records": []}).to_string());
        let cases = [
            (
                twice,
                "the payload is a string holding JSON (encoded twice?), not an S3 notification",
            ),
            (
                json!("hi"),
                "the payload is a string, not an S3 notification",
            ),
            (json!([1]), "the payload is a list, not an S3 notification"),
            (json!(null), "the payload is null, not an S3 notification"),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                parse_invocation(&payload).unwrap(),
                Invocation::Ignored(expected.into())
            );
        }
    }
}
