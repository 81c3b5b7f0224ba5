//! The safetensors header, parsed from its bytes alone and safe against hostile files.
//!
//! A safetensors file is: 8 bytes (little-endian u64 `N`), `N` bytes of JSON
//! (`{"__metadata__": {..}, "name": {"dtype", "shape", "data_offsets": [begin, end]}}`),
//! then the data section. Offsets are relative to the data section. Ferry reads the
//! length and the JSON, never the data: every check here needs only `N` and the file size.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// The safetensors library's own limit on the header length.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Size of the length prefix.
pub const LEN_PREFIX: u64 = 8;

/// Why a file is not valid safetensors. Messages name the offending tensor or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the file is {0} bytes, too short to hold the 8-byte header length")]
    TooShort(u64),
    #[error("the header length is {len} bytes, more than the {MAX_HEADER_LEN}-byte limit of the safetensors format")]
    HeaderTooLong { len: u64 },
    #[error(
        "the header length is {len} bytes but only {available} bytes follow the length prefix"
    )]
    HeaderPastEnd { len: u64, available: u64 },
    #[error("the header does not start with '{{': it is not a safetensors JSON header")]
    NotAnObject,
    #[error("the header is not valid JSON: {0}")]
    NotJson(String),
    #[error("the header names tensor {0:?} twice")]
    DuplicateTensor(String),
    #[error("tensor {name:?} has dtype {dtype:?}, which the safetensors format does not define")]
    UnknownDtype { name: String, dtype: String },
    #[error("tensor {name:?}: shape {shape:?} has more elements than a 64-bit size can hold")]
    ShapeOverflow { name: String, shape: Vec<u64> },
    #[error("tensor {name:?}: {elements} elements of {dtype} do not fill a whole number of bytes")]
    PartialByte {
        name: String,
        elements: u64,
        dtype: Dtype,
    },
    #[error("tensor {name:?}: data_offsets [{begin}, {end}] end before they begin")]
    ReversedOffsets { name: String, begin: u64, end: u64 },
    #[error("tensor {name:?}: data_offsets [{begin}, {end}] hold {actual} bytes but shape {shape:?} of {dtype} needs {expected}")]
    LengthMismatch {
        name: String,
        dtype: Dtype,
        shape: Vec<u64>,
        begin: u64,
        end: u64,
        actual: u64,
        expected: u64,
    },
    #[error("tensor {name:?} starts at data byte {begin}, overlapping the previous tensor, which ends at {previous_end}")]
    Overlap {
        name: String,
        begin: u64,
        previous_end: u64,
    },
    #[error("tensor {name:?} starts at data byte {begin}, leaving a gap of {} unused bytes after the previous tensor", begin - previous_end)]
    Gap {
        name: String,
        begin: u64,
        previous_end: u64,
    },
    #[error("the tensors end at data byte {tensors_end} but the data section is {data_len} bytes: the file is {}", if tensors_end > data_len { "truncated" } else { "longer than its tensors" })]
    DataLenMismatch { tensors_end: u64, data_len: u64 },
}

/// Element types of the safetensors format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dtype {
    Bool,
    F4,
    F6E2M3,
    F6E3M2,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    F8E8M0,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    F64,
    I64,
    U64,
}

/// Every dtype with its name in headers and its size in bits: the one table.
const DTYPES: &[(Dtype, &str, u64)] = &[
    (Dtype::Bool, "BOOL", 8),
    (Dtype::F4, "F4", 4),
    (Dtype::F6E2M3, "F6_E2M3", 6),
    (Dtype::F6E3M2, "F6_E3M2", 6),
    (Dtype::U8, "U8", 8),
    (Dtype::I8, "I8", 8),
    (Dtype::F8E5M2, "F8_E5M2", 8),
    (Dtype::F8E4M3, "F8_E4M3", 8),
    (Dtype::F8E8M0, "F8_E8M0", 8),
    (Dtype::I16, "I16", 16),
    (Dtype::U16, "U16", 16),
    (Dtype::F16, "F16", 16),
    (Dtype::BF16, "BF16", 16),
    (Dtype::I32, "I32", 32),
    (Dtype::U32, "U32", 32),
    (Dtype::F32, "F32", 32),
    (Dtype::C64, "C64", 64),
    (Dtype::F64, "F64", 64),
    (Dtype::I64, "I64", 64),
    (Dtype::U64, "U64", 64),
];

impl Dtype {
    /// Parses the dtype name as written in headers (`"BF16"`, `"F8_E4M3"`).
    pub fn from_name(name: &str) -> Option<Self> {
        DTYPES
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(d, _, _)| *d)
    }

    fn entry(self) -> &'static (Dtype, &'static str, u64) {
        // Every variant is in the table (a unit test checks it).
        DTYPES
            .iter()
            .find(|(d, _, _)| *d == self)
            .unwrap_or(&DTYPES[0])
    }

    pub fn name(self) -> &'static str {
        self.entry().1
    }

    pub fn bits(self) -> u64 {
        self.entry().2
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One tensor as the header describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    /// Offsets into the data section, `[begin, end)`.
    pub begin: u64,
    pub end: u64,
}

/// A header that has passed every check against the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Sorted by name.
    pub tensors: Vec<TensorInfo>,
    pub metadata: BTreeMap<String, String>,
}

impl Header {
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.tensors[i])
    }
}

/// Reads the header length from the first 8 bytes and checks it against the file size.
/// Returns `N`, the number of header bytes that follow the prefix.
pub fn header_len(prefix: [u8; 8], file_size: u64) -> Result<u64, HeaderError> {
    if file_size < LEN_PREFIX {
        return Err(HeaderError::TooShort(file_size));
    }
    let len = u64::from_le_bytes(prefix);
    if len > MAX_HEADER_LEN {
        return Err(HeaderError::HeaderTooLong { len });
    }
    let available = file_size - LEN_PREFIX;
    if len > available {
        return Err(HeaderError::HeaderPastEnd { len, available });
    }
    Ok(len)
}

/// Parses the header JSON (the `N` bytes after the prefix) and checks that its tensors
/// tile a data section of `data_len` bytes exactly: sorted by offset, no overlap, no gap,
/// ending at the end of the file, each as long as its shape and dtype require.
pub fn parse_header(json: &[u8], data_len: u64) -> Result<Header, HeaderError> {
    if json.first() != Some(&b'{') {
        return Err(HeaderError::NotAnObject);
    }
    let raw: RawHeader =
        serde_json::from_slice(json).map_err(|e| HeaderError::NotJson(e.to_string()))?;

    let mut tensors = Vec::with_capacity(raw.tensors.len());
    for (name, raw_tensor) in raw.tensors {
        let Some(dtype) = Dtype::from_name(&raw_tensor.dtype) else {
            return Err(HeaderError::UnknownDtype {
                name,
                dtype: raw_tensor.dtype,
            });
        };
        let [begin, end] = raw_tensor.data_offsets;
        let expected = byte_len(&name, dtype, &raw_tensor.shape)?;
        if end < begin {
            return Err(HeaderError::ReversedOffsets { name, begin, end });
        }
        if end - begin != expected {
            return Err(HeaderError::LengthMismatch {
                name,
                dtype,
                shape: raw_tensor.shape,
                begin,
                end,
                actual: end - begin,
                expected,
            });
        }
        tensors.push(TensorInfo {
            name,
            dtype,
            shape: raw_tensor.shape,
            begin,
            end,
        });
    }

    check_tiling(&mut tensors, data_len)?;
    tensors.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    if let Some(pair) = tensors.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(HeaderError::DuplicateTensor(pair[0].name.clone()));
    }
    Ok(Header {
        tensors,
        metadata: raw.metadata,
    })
}

fn byte_len(name: &str, dtype: Dtype, shape: &[u64]) -> Result<u64, HeaderError> {
    let overflow = || HeaderError::ShapeOverflow {
        name: name.to_owned(),
        shape: shape.to_vec(),
    };
    let elements = shape
        .iter()
        .try_fold(1u64, |acc, &dim| acc.checked_mul(dim))
        .ok_or_else(overflow)?;
    let bits = elements.checked_mul(dtype.bits()).ok_or_else(overflow)?;
    if bits % 8 != 0 {
        return Err(HeaderError::PartialByte {
            name: name.to_owned(),
            elements,
            dtype,
        });
    }
    Ok(bits / 8)
}

fn check_tiling(tensors: &mut [TensorInfo], data_len: u64) -> Result<(), HeaderError> {
    tensors.sort_unstable_by_key(|t| (t.begin, t.end));
    let mut previous_end = 0u64;
    for tensor in tensors.iter() {
        if tensor.begin < previous_end {
            return Err(HeaderError::Overlap {
                name: tensor.name.clone(),
                begin: tensor.begin,
                previous_end,
            });
        }
        if tensor.begin > previous_end {
            return Err(HeaderError::Gap {
                name: tensor.name.clone(),
                begin: tensor.begin,
                previous_end,
            });
        }
        previous_end = tensor.end;
    }
    if previous_end != data_len {
        return Err(HeaderError::DataLenMismatch {
            tensors_end: previous_end,
            data_len,
        });
    }
    Ok(())
}

/// The header as JSON gives it, deserialised without an intermediate `Value` tree so
/// memory stays proportional to the tensors, not to JSON overhead.
struct RawHeader {
    tensors: Vec<(String, RawTensor)>,
    metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeaderVisitor;

        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = RawHeader;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of tensor names to {dtype, shape, data_offsets}")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
                let mut tensors = Vec::new();
                let mut metadata = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__metadata__" {
                        if metadata.is_some() {
                            return Err(de::Error::duplicate_field("__metadata__"));
                        }
                        metadata =
                            Some(map.next_value::<BTreeMap<String, String>>().map_err(|e| {
                                de::Error::custom(format_args!(
                                    "__metadata__ must map strings to strings ({e})"
                                ))
                            })?);
                    } else {
                        let tensor = map
                            .next_value::<RawTensor>()
                            .map_err(|e| de::Error::custom(format_args!("tensor {key:?}: {e}")))?;
                        tensors.push((key, tensor));
                    }
                }
                Ok(RawHeader {
                    tensors,
                    metadata: metadata.unwrap_or_default(),
                })
            }
        }

        deserializer.deserialize_map(HeaderVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str, data_len: u64) -> Result<Header, HeaderError> {
        parse_header(json.as_bytes(), data_len)
    }

    #[test]
    fn accepts_a_well_formed_header_and_sorts_by_name() {
        let h = header(
            r#"{"__metadata__":{"format":"pt"},
                "b":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},
                "a":{"dtype":"F32","shape":[],"data_offsets":[12,16]},
                "empty":{"dtype":"F16","shape":[0,4],"data_offsets":[16,16]}}   "#,
            16,
        )
        .unwrap();
        let names: Vec<_> = h.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "empty"]);
        assert_eq!(h.metadata["format"], "pt");
        assert_eq!(h.tensor("b").unwrap().shape, [2, 3]);
        assert!(h.tensor("c").is_none());
    }

    #[test]
    fn header_len_bounds() {
        assert_eq!(header_len(10u64.to_le_bytes(), 18), Ok(10));
        assert_eq!(
            header_len(0u64.to_le_bytes(), 4),
            Err(HeaderError::TooShort(4))
        );
        assert_eq!(
            header_len(11u64.to_le_bytes(), 18),
            Err(HeaderError::HeaderPastEnd {
                len: 11,
                available: 10
            })
        );
        assert_eq!(
            header_len(u64::MAX.to_le_bytes(), u64::MAX),
            Err(HeaderError::HeaderTooLong { len: u64::MAX })
        );
        assert_eq!(
            header_len((MAX_HEADER_LEN + 1).to_le_bytes(), u64::MAX),
            Err(HeaderError::HeaderTooLong {
                len: MAX_HEADER_LEN + 1
            })
        );
        assert_eq!(
            header_len(MAX_HEADER_LEN.to_le_bytes(), u64::MAX),
            Ok(MAX_HEADER_LEN)
        );
    }

    #[test]
    fn rejects_hostile_and_inconsistent_headers() {
        let cases: &[(&str, u64, &str)] = &[
            ("not json", 0, "does not start"),
            ("{\"a\":", 0, "not valid JSON"),
            ("[1,2]", 0, "does not start"),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                8,
                "twice",
            ),
            (
                r#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#,
                4,
                "does not define",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#,
                4,
                "64-bit",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                4,
                "not valid JSON",
            ),
            (
                r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}"#,
                1,
                "whole number of bytes",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#,
                8,
                "end before",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                4,
                "needs 8",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                12,
                "overlapping",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                12,
                "gap of 4",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                8,
                "gap of 4",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                2,
                "truncated",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                9,
                "longer than",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}}"#,
                4,
                "needs 4",
            ),
            (r#"{"__metadata__":{"a":1}}"#, 0, "strings to strings"),
            (r#"{"a":{"dtype":"F32","shape":[1]}}"#, 0, "data_offsets"),
            ("{\"a\":\u{0}}", 0, "not valid JSON"),
        ];
        for (json, data_len, expected) in cases {
            let err = header(json, *data_len).expect_err(json);
            assert!(err.to_string().contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn invalid_utf8_is_refused_without_panic() {
        let err = parse_header(b"{\"\xff\":1}", 0).unwrap_err();
        assert!(matches!(err, HeaderError::NotJson(_)), "{err}");
    }

    #[test]
    fn sub_byte_dtypes_count_bits() {
        let h = header(
            r#"{"a":{"dtype":"F4","shape":[2,2],"data_offsets":[0,2]}}"#,
            2,
        )
        .unwrap();
        assert_eq!(h.tensors[0].dtype, Dtype::F4);
        assert_eq!(Dtype::from_name("F8_E4M3"), Some(Dtype::F8E4M3));
        assert_eq!(Dtype::F8E4M3.to_string(), "F8_E4M3");
    }

    #[test]
    fn the_dtype_table_round_trips_every_entry() {
        for (dtype, name, bits) in DTYPES {
            assert_eq!(Dtype::from_name(name), Some(*dtype));
            assert_eq!((dtype.name(), dtype.bits()), (*name, *bits));
        }
        assert_eq!(DTYPES.len(), 20);
    }
}
