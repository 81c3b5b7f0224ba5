//! `model.safetensors.index.json` checked in one streaming pass: each `weight_map`
//! entry is judged as it is read (borrowed from the bytes, never a `serde_json::Value`
//! of the index), and only counts and a few examples are kept, so an index of millions
//! of entries costs a few bytes per distinct absent shard, not a tree of strings.

use std::collections::BTreeSet;
use std::fmt;
use std::hash::{BuildHasher, RandomState};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::text::echo;
use crate::validate::safetensors_header::{Header, Key};

/// The most `weight_map` entries Ferry judges (8 bytes each at most are kept).
pub(crate) const MAX_INDEX_ENTRIES: usize = 2_000_000;

/// Examples a tally keeps: the smallest, in sorted order.
const EXAMPLES: usize = 3;

/// A count and its first few examples in sorted order (each shortened).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub examples: BTreeSet<String>,
}

impl Tally {
    pub fn add(&mut self, example: &str) {
        self.count += 1;
        self.keep(example);
    }

    fn keep(&mut self, example: &str) {
        let fits = self.examples.len() < EXAMPLES;
        let smaller = self
            .examples
            .last()
            .is_some_and(|last| example < last.as_str());
        if fits || smaller {
            self.examples.insert(echo(example).into_owned());
            while self.examples.len() > EXAMPLES {
                self.examples.pop_last();
            }
        }
    }

    /// `"a", "b", "c" and 12 more` (quoted) or `a, b, c and 12 more` (plain).
    pub fn listed(&self, quoted: bool) -> String {
        let mut text = self
            .examples
            .iter()
            .map(|e| if quoted { format!("{e:?}") } else { e.clone() })
            .collect::<Vec<_>>()
            .join(", ");
        let more = self.count.saturating_sub(self.examples.len() as u64);
        if more > 0 {
            text.push_str(&format!(
                " and {} more",
                crate::text::units::thousands(more)
            ));
        }
        text
    }
}

/// What the index says about the folder.
#[derive(Debug, Default)]
pub(crate) struct IndexCheck {
    /// Why the index could not be read at all (not JSON, not an object).
    pub unreadable: Option<String>,
    /// The index has no `weight_map` object.
    pub no_weight_map: bool,
    /// More than [`MAX_INDEX_ENTRIES`] entries: judging stopped there.
    pub beyond_limit: bool,
    pub entries: u64,
    /// Distinct shards named but not among the weight files.
    pub absent_shards: Tally,
    /// Entries whose value is not a string: examples are `"tensor" (a number)`.
    pub not_shard_names: Tally,
    /// For each weight file (in the order given): whether the index names it.
    pub named: Vec<bool>,
    /// For each weight file: tensors the index places there that its header lacks.
    pub missing_tensors: Vec<Tally>,
}

/// Judges the index `json` against the folder's top-level weight files (`weight_files`,
/// sorted) and their parsed headers (`None` where a header was not usable).
pub(crate) fn check_index(
    json: &[u8],
    weight_files: &[&str],
    headers: &[Option<&Header>],
) -> IndexCheck {
    let mut state = State {
        check: IndexCheck {
            named: vec![false; weight_files.len()],
            missing_tensors: vec![Tally::default(); weight_files.len()],
            ..IndexCheck::default()
        },
        weight_files,
        headers,
        absent_hashes: Vec::new(),
        hasher: RandomState::new(),
    };
    let first = json.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first != Some(b'{') {
        state.check.unreadable = Some(not_an_object(json, first));
        return state.check;
    }
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let parsed = RootSeed { state: &mut state }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if let Err(e) = parsed {
        if !state.check.beyond_limit {
            state.check.unreadable = Some(format!("not valid JSON: {}", echo(&e.to_string())));
        }
    }
    state.finish()
}

fn not_an_object(json: &[u8], first: Option<u8>) -> String {
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(json) {
        return format!("not valid JSON: {}", echo(&e.to_string()));
    }
    let kind = match first {
        Some(b'[') => "a list",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    };
    format!("JSON but not an object (it is {kind})")
}

struct State<'a> {
    check: IndexCheck,
    weight_files: &'a [&'a str],
    headers: &'a [Option<&'a Header>],
    /// Hashes of absent shard names, deduplicated at the end: 8 bytes per entry.
    absent_hashes: Vec<u64>,
    hasher: RandomState,
}

impl State<'_> {
    /// One `weight_map` entry.
    fn entry(&mut self, tensor: &str, shard: Result<&str, &'static str>) {
        self.check.entries += 1;
        let shard = match shard {
            Ok(shard) => shard,
            Err(kind) => {
                let example = format!("{:?} ({kind})", echo(tensor));
                self.check.not_shard_names.add(&example);
                return;
            }
        };
        let Ok(k) = self.weight_files.binary_search(&shard) else {
            self.absent_hashes.push(self.hasher.hash_one(shard));
            self.check.absent_shards.keep(shard);
            return;
        };
        self.check.named[k] = true;
        let Some(header) = self.headers.get(k).copied().flatten() else {
            return;
        };
        if header.contains(tensor) == Some(false) {
            self.check.missing_tensors[k].add(tensor);
        }
    }

    fn finish(mut self) -> IndexCheck {
        self.absent_hashes.sort_unstable();
        self.absent_hashes.dedup();
        self.check.absent_shards.count = self.absent_hashes.len() as u64;
        self.check
    }
}

/// The index's top-level object: `weight_map` is judged, everything else skipped.
struct RootSeed<'s, 'a> {
    state: &'s mut State<'a>,
}

impl<'de> DeserializeSeed<'de> for RootSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RootSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a weight_map")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.0 == "weight_map" {
                found |= map.next_value_seed(WeightMapSeed {
                    state: &mut *self.state,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        self.state.check.no_weight_map = !found;
        Ok(())
    }
}

/// `weight_map`: `true` when it was an object (and its entries were judged).
struct WeightMapSeed<'s, 'a> {
    state: &'s mut State<'a>,
}

impl<'de> DeserializeSeed<'de> for WeightMapSeed<'_, '_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for WeightMapSeed<'_, '_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of tensor names to shard files")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while let Some(tensor) = map.next_key::<Key<'de>>()? {
            if self.state.check.entries >= MAX_INDEX_ENTRIES as u64 {
                self.state.check.beyond_limit = true;
                return Err(de::Error::custom("beyond the entry limit"));
            }
            let shard = map.next_value::<ShardName<'de>>()?;
            self.state
                .entry(&tensor.0, shard.0.as_deref().map_err(|k| *k));
        }
        Ok(true)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// A `weight_map` value: a shard name, or what else it is ("a number").
struct ShardName<'de>(Result<std::borrow::Cow<'de, str>, &'static str>);

impl<'de> de::Deserialize<'de> for ShardName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShardNameVisitor)
    }
}

struct ShardNameVisitor;

impl<'de> Visitor<'de> for ShardNameVisitor {
    type Value = ShardName<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a shard file name")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(ShardName(Ok(std::borrow::Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ShardName(Ok(std::borrow::Cow::Owned(v.to_owned()))))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ShardName(Err("a boolean")))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ShardName(Err("a number")))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ShardName(Err("a number")))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ShardName(Err("a number")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ShardName(Err("null")))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ShardName(Err("a list")))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(ShardName(Err("an object")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::safetensors_header::parse_header;

    fn shard() -> Header {
        parse_header(
            br#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            8,
        )
        .unwrap()
    }

    #[test]
    fn judges_entries_against_files_and_headers() {
        let h = shard();
        let json = br#"{"metadata":{"total_size":8},"weight_map":{
            "a":"s1.safetensors","b":"s1.safetensors","c":"s1.safetensors",
            "d":"gone.safetensors","e":"gone.safetensors","f":7}}"#;
        let c = check_index(
            json,
            &["s1.safetensors", "s2.safetensors"],
            &[Some(&h), None],
        );
        assert_eq!(c.unreadable, None);
        assert!(!c.no_weight_map);
        assert_eq!(c.entries, 6);
        assert_eq!(c.named, [true, false]);
        assert_eq!(c.missing_tensors[0].listed(true), "\"c\"");
        assert_eq!(c.absent_shards.count, 1);
        assert_eq!(c.absent_shards.listed(false), "gone.safetensors");
        assert_eq!(c.not_shard_names.listed(false), "\"f\" (a number)");
    }

    #[test]
    fn millions_of_absent_shards_are_counted_not_listed() {
        let mut json = String::from("{\"weight_map\":{");
        for i in 0..200_000 {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&format!(
                "\"t{i}\":\"s{i}.safetensors\",\"u{i}\":\"s{i}.safetensors\""
            ));
        }
        json.push_str("}}");
        let c = check_index(json.as_bytes(), &[], &[]);
        assert_eq!(c.absent_shards.count, 200_000);
        assert_eq!(
            c.absent_shards.listed(false),
            "s0.safetensors, s1.safetensors, s10.safetensors and 199,997 more"
        );
    }

    #[test]
    fn unreadable_and_odd_indexes() {
        let c = check_index(b"nope", &[], &[]);
        assert!(c.unreadable.unwrap().contains("not valid JSON"));
        let c = check_index(b" [1]", &[], &[]);
        assert_eq!(
            c.unreadable.unwrap(),
            "JSON but not an object (it is a list)"
        );
        assert!(check_index(b"{}", &[], &[]).no_weight_map);
        assert!(check_index(br#"{"weight_map":[1]}"#, &[], &[]).no_weight_map);
        let c = check_index(br#"{"weight_map":{}}"#, &["a"], &[None]);
        assert!(!c.no_weight_map && c.entries == 0 && c.named == [false]);
        let long = "x".repeat(1_000_000);
        let c = check_index(
            format!("{{\"weight_map\":{{\"{long}\":1}}").as_bytes(),
            &[],
            &[],
        );
        assert!(c.unreadable.unwrap().len() < 1_000);
    }
}
