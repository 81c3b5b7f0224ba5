//! The safetensors header, parsed from its bytes alone and safe against hostile files.
//!
//! A safetensors file is: 8 bytes (little-endian u64 `N`), `N` bytes of JSON
//! (`{"__metadata__": {..}, "name": {"dtype", "shape", "data_offsets": [begin, end]}}`),
//! then the data section. Offsets are relative to the data section. Ferry reads the
//! length and the JSON, never the data: every check here needs only `N` and the file size.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::text::{echo, echo_quoted};

/// The safetensors library's own limit on the header length.
pub(crate) const MAX_HEADER_LEN: u64 = 100_000_000;

/// Size of the length prefix.
pub(crate) const LEN_PREFIX: u64 = 8;

/// The most tensors one header may declare: a bound on the records one parse keeps
/// (24 bytes each) whatever bytes it is given. Real headers hold a few thousand.
pub(crate) const MAX_TENSORS_PER_HEADER: usize = 1_000_000;

/// Why a file is not valid safetensors. Messages name the offending tensor or value,
/// shortened to `ECHO_MAX_CHARS` characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The file is shorter than the 8-byte length prefix; holds its size in bytes.
    #[error("the file is {0} bytes, too short to hold the 8-byte header length")]
    TooShort(u64),
    /// The prefix declares a header longer than the format's 100,000,000-byte limit.
    #[error("the header length is {len} bytes, more than the {MAX_HEADER_LEN}-byte limit of the safetensors format")]
    HeaderTooLong {
        /// Header length read from the prefix, in bytes.
        len: u64,
    },
    /// The prefix declares a header that runs past the end of the file.
    #[error(
        "the header length is {len} bytes but only {available} bytes follow the length prefix"
    )]
    HeaderPastEnd {
        /// Header length read from the prefix, in bytes.
        len: u64,
        /// Bytes in the file after the 8-byte prefix.
        available: u64,
    },
    /// The header's first byte is not `{`.
    #[error("the header does not start with '{{': it is not a safetensors JSON header")]
    NotAnObject,
    /// The header is not JSON of the safetensors layout (bad syntax, a tensor entry
    /// without `dtype`, `shape` or `data_offsets`, metadata that is not strings, trailing
    /// bytes); holds the parser's message, shortened.
    #[error("the header is not valid JSON: {0}")]
    NotJson(String),
    /// Two entries have the same tensor name; holds the name, shortened.
    #[error("the header names tensor {0:?} twice")]
    DuplicateTensor(String),
    /// A tensor's `dtype` is not one of the format's names (see [`Dtype`]).
    #[error("tensor {name:?} has dtype {dtype:?}, which the safetensors format does not define")]
    UnknownDtype {
        /// The tensor's name, shortened.
        name: String,
        /// The `dtype` as written, shortened.
        dtype: String,
    },
    /// A tensor's element count, or its size in bits, does not fit in a `u64`.
    #[error("tensor {name:?}: shape {shape:?} has more elements than a 64-bit size can hold")]
    ShapeOverflow {
        /// The tensor's name, shortened.
        name: String,
        /// The shape as declared (its first dimensions and its rank).
        shape: Shape,
    },
    /// A tensor of a sub-byte dtype (`F4`, `F6_*`) whose elements do not fill a whole
    /// number of bytes.
    #[error("tensor {name:?}: {elements} elements of {dtype} do not fill a whole number of bytes")]
    PartialByte {
        /// The tensor's name, shortened.
        name: String,
        /// The product of the shape's dimensions.
        elements: u64,
        /// The tensor's element type.
        dtype: Dtype,
    },
    /// A tensor's `data_offsets` end before they begin.
    #[error("tensor {name:?}: data_offsets [{begin}, {end}] end before they begin")]
    ReversedOffsets {
        /// The tensor's name, shortened.
        name: String,
        /// First offset, in bytes from the start of the data section.
        begin: u64,
        /// Second offset, in bytes from the start of the data section.
        end: u64,
    },
    /// A tensor's byte span is not the size its shape and dtype require.
    #[error("tensor {name:?}: data_offsets [{begin}, {end}] hold {actual} bytes but shape {shape:?} of {dtype} needs {expected}")]
    LengthMismatch {
        /// The tensor's name, shortened.
        name: String,
        /// The tensor's element type.
        dtype: Dtype,
        /// The shape as declared.
        shape: Shape,
        /// Start of the span, in bytes from the start of the data section.
        begin: u64,
        /// End of the span (exclusive), in bytes from the start of the data section.
        end: u64,
        /// `end - begin`, in bytes.
        actual: u64,
        /// Elements × bits per element ÷ 8, in bytes.
        expected: u64,
    },
    /// Sorted by offset, a tensor starts before the previous one ends.
    #[error("tensor {name:?} starts at data byte {begin}, overlapping the previous tensor, which ends at {previous_end}")]
    Overlap {
        /// The tensor's name, shortened.
        name: String,
        /// Where the tensor starts, in bytes from the start of the data section.
        begin: u64,
        /// Where the tensor before it (by offset) ends, in the same terms.
        previous_end: u64,
    },
    /// Sorted by offset, a tensor starts after the previous one ends (or the first one
    /// after byte 0), leaving bytes no tensor owns.
    #[error("tensor {name:?} starts at data byte {begin}, leaving a gap of {} unused bytes after the previous tensor", begin - previous_end)]
    Gap {
        /// The tensor's name, shortened.
        name: String,
        /// Where the tensor starts, in bytes from the start of the data section.
        begin: u64,
        /// Where the tensor before it (by offset) ends, in the same terms; 0 for the first.
        previous_end: u64,
    },
    /// The tensors do not end where the file ends: the file is truncated, or has bytes
    /// after its last tensor.
    #[error("the tensors end at data byte {tensors_end} but the data section is {data_len} bytes: the file is {}", if tensors_end > data_len { "truncated" } else { "longer than its tensors" })]
    DataLenMismatch {
        /// Where the last tensor ends, in bytes from the start of the data section (0
        /// when the header declares none).
        tensors_end: u64,
        /// The data section's size: the file size minus the prefix and the header.
        data_len: u64,
    },
    /// The header declares more than 1,000,000 tensors: a bound on Ferry's memory, not a
    /// fault of the file by the format.
    #[error("the header declares more than {limit} tensors, more than Ferry judges in one header")]
    TooManyTensors {
        /// The most tensors Ferry judges in one header.
        limit: usize,
    },
    /// The header is within the format's limit but longer than Ferry reads
    /// ([`crate::validate::MAX_HEADER_BYTES`]): a bound on Ferry's memory, not a fault
    /// of the file by the format.
    #[error("the header is {len} bytes, more than the {limit} bytes Ferry reads to judge one (real headers are a few hundred KB)")]
    BeyondFerryLimit {
        /// Header length read from the prefix, in bytes.
        len: u64,
        /// The most header bytes Ferry reads, in bytes.
        limit: u64,
    },
}

impl HeaderError {
    /// A limit of Ferry's (memory bounds), not a fault of the file by the format.
    pub(crate) fn is_ferry_limit(&self) -> bool {
        matches!(
            self,
            HeaderError::TooManyTensors { .. } | HeaderError::BeyondFerryLimit { .. }
        )
    }
}

/// Element types of the safetensors format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dtype {
    /// `BOOL`: a boolean stored in one byte.
    Bool,
    /// `F4`: 4-bit float, two elements per byte.
    F4,
    /// `F6_E2M3`: 6-bit float, 2 exponent and 3 mantissa bits.
    F6E2M3,
    /// `F6_E3M2`: 6-bit float, 3 exponent and 2 mantissa bits.
    F6E3M2,
    /// `U8`: 8-bit unsigned integer.
    U8,
    /// `I8`: 8-bit signed integer.
    I8,
    /// `F8_E5M2`: 8-bit float, 5 exponent and 2 mantissa bits.
    F8E5M2,
    /// `F8_E4M3`: 8-bit float, 4 exponent and 3 mantissa bits.
    F8E4M3,
    /// `F8_E8M0`: 8-bit exponent-only value, used as a block scale.
    F8E8M0,
    /// `I16`: 16-bit signed integer.
    I16,
    /// `U16`: 16-bit unsigned integer.
    U16,
    /// `F16`: IEEE 754 half precision (16 bits).
    F16,
    /// `BF16`: bfloat16, 8 exponent and 7 mantissa bits (16 bits).
    BF16,
    /// `I32`: 32-bit signed integer.
    I32,
    /// `U32`: 32-bit unsigned integer.
    U32,
    /// `F32`: IEEE 754 single precision (32 bits).
    F32,
    /// `C64`: complex number of two 32-bit floats (64 bits).
    C64,
    /// `F64`: IEEE 754 double precision (64 bits).
    F64,
    /// `I64`: 64-bit signed integer.
    I64,
    /// `U64`: 64-bit unsigned integer.
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
    pub(crate) fn from_name(name: &str) -> Option<Self> {
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

    /// The name as written in headers and shown in messages (`"BF16"`, `"F8_E4M3"`).
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// Bits per element.
    pub(crate) fn bits(self) -> u64 {
        self.entry().2
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tensor's shape, as much of it as a message needs: its rank, its first dimensions
/// and the product of all of them. A hostile shape of millions of dimensions costs a
/// few words, not eight bytes per dimension.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Shape {
    /// The first [`Shape::SHOWN`] dimensions.
    shown: Vec<u64>,
    rank: u64,
    /// The number of elements; `None` when it does not fit in 64 bits.
    elements: Option<u64>,
}

impl Shape {
    /// Dimensions a message shows before "…".
    pub(crate) const SHOWN: usize = 8;

    /// The shape of these dimensions.
    pub fn of(dims: &[u64]) -> Self {
        let mut shape = Shape {
            elements: Some(1),
            ..Shape::default()
        };
        for &dim in dims {
            shape.push(dim);
        }
        shape
    }

    fn push(&mut self, dim: u64) {
        if self.shown.len() < Self::SHOWN {
            self.shown.push(dim);
        }
        self.rank += 1;
        self.elements = self.elements.and_then(|e| e.checked_mul(dim));
    }

    /// The number of dimensions (0 for a scalar).
    pub fn rank(&self) -> u64 {
        self.rank
    }

    /// The number of elements, when it fits in 64 bits.
    pub fn elements(&self) -> Option<u64> {
        self.elements
    }
}

/// `[2, 3]`, or `[1, 1, 1, 1, 1, 1, 1, 1, … (9000000 dimensions)]`.
impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, dim) in self.shown.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{dim}")?;
        }
        if self.rank > self.shown.len() as u64 {
            write!(f, ", … ({} dimensions)", self.rank)?;
        }
        f.write_str("]")
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShapeVisitor;
        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of dimensions (unsigned integers)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let mut shape = Shape::of(&[]);
                while let Some(dim) = seq.next_element::<u64>()? {
                    shape.push(dim);
                }
                Ok(shape)
            }
        }
        deserializer.deserialize_seq(ShapeVisitor)
    }
}

/// How many tensors of one dtype a header holds, with one of their names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DtypeTally {
    pub tensors: usize,
    /// The first name in sorted order, shortened as every echoed value is.
    pub example: String,
}

/// A header that has passed every check against the file it came from, kept compact:
/// what the later checks need (its tensor count, each dtype's tally, and a set of name
/// hashes to test the index against), never the names or shapes themselves.
#[derive(Debug, Clone)]
pub struct Header {
    tensors: usize,
    /// Hashes of the tensor names, sorted; emptied by [`Header::forget_names`].
    names: Vec<u64>,
    names_kept: bool,
    hasher: RandomState,
    dtypes: BTreeMap<Dtype, DtypeTally>,
}

impl Header {
    /// The number of tensors the header declares.
    pub fn len(&self) -> usize {
        self.tensors
    }

    /// Whether the header declares no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors == 0
    }

    /// Whether the header declares a tensor of this name; `None` once the names were
    /// forgotten. (A 64-bit keyed hash: a wrong `true` has odds of about n·2⁻⁶⁴ per
    /// name for a header of n tensors, 5·10⁻¹⁵ at 100,000, and the key is random per
    /// header, so no file can aim for one.)
    pub fn contains(&self, name: &str) -> Option<bool> {
        self.names_kept.then(|| {
            self.names
                .binary_search(&self.hasher.hash_one(name))
                .is_ok()
        })
    }

    /// Drops the name set (8 bytes per tensor): the folder holds more tensors than
    /// Ferry keeps, and the index is then not checked against the headers.
    pub(crate) fn forget_names(&mut self) {
        self.names = Vec::new();
        self.names_kept = false;
    }

    /// Tensors of each dtype, with an example name.
    pub(crate) fn dtypes(&self) -> &BTreeMap<Dtype, DtypeTally> {
        &self.dtypes
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
///
/// Memory beyond `json` itself is 24 bytes per tensor while parsing and 8 kept; names,
/// dtypes and shapes are borrowed from `json` and checked one tensor at a time.
pub fn parse_header(json: &[u8], data_len: u64) -> Result<Header, HeaderError> {
    if json.first() != Some(&b'{') {
        return Err(HeaderError::NotAnObject);
    }
    let mut state = ParseState::new(json.len());
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let parsed = HeaderSeed { state: &mut state }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if let Some(err) = state.error.take() {
        return Err(err);
    }
    parsed.map_err(|e| HeaderError::NotJson(echo(&e.to_string()).into_owned()))?;

    check_tiling(json, &mut state.offsets, data_len)?;
    state.offsets = Vec::new();
    state.names.sort_unstable();
    if let Some(pair) = state.names.windows(2).find(|w| w[0] == w[1]) {
        if let Some(name) = duplicate_name(json, &state.hasher, pair[0]) {
            return Err(HeaderError::DuplicateTensor(name));
        }
    }
    Ok(Header {
        tensors: state.names.len(),
        names: state.names,
        names_kept: true,
        hasher: state.hasher,
        dtypes: state.dtypes,
    })
}

/// What parsing keeps while it walks the header.
struct ParseState {
    /// `(begin, end)` of every tensor, for the tiling check.
    offsets: Vec<(u64, u64)>,
    names: Vec<u64>,
    hasher: RandomState,
    dtypes: BTreeMap<Dtype, DtypeTally>,
    metadata_seen: bool,
    /// The first inconsistency found; parsing stops there.
    error: Option<HeaderError>,
}

impl ParseState {
    fn new(json_len: usize) -> Self {
        // The shortest tensor entry is about 50 bytes: reserve for what the header can
        // hold, so that growth does not double a large header's records.
        let hint = (json_len / 64).min(MAX_TENSORS_PER_HEADER);
        ParseState {
            offsets: Vec::with_capacity(hint),
            names: Vec::with_capacity(hint),
            hasher: RandomState::new(),
            dtypes: BTreeMap::new(),
            metadata_seen: false,
            error: None,
        }
    }

    /// Checks one tensor and records what the later checks need.
    fn tensor(&mut self, name: &str, raw: RawTensor<'_>) -> Result<(), HeaderError> {
        if self.names.len() >= MAX_TENSORS_PER_HEADER {
            return Err(HeaderError::TooManyTensors {
                limit: MAX_TENSORS_PER_HEADER,
            });
        }
        let Some(dtype) = Dtype::from_name(&raw.dtype) else {
            return Err(HeaderError::UnknownDtype {
                name: echo(name).into_owned(),
                dtype: echo(&raw.dtype).into_owned(),
            });
        };
        let [begin, end] = raw.data_offsets;
        let expected = byte_len(name, dtype, &raw.shape)?;
        if end < begin {
            return Err(HeaderError::ReversedOffsets {
                name: echo(name).into_owned(),
                begin,
                end,
            });
        }
        if end - begin != expected {
            return Err(HeaderError::LengthMismatch {
                name: echo(name).into_owned(),
                dtype,
                shape: raw.shape,
                begin,
                end,
                actual: end - begin,
                expected,
            });
        }
        self.offsets.push((begin, end));
        self.names.push(self.hasher.hash_one(name));
        self.tally(dtype, name);
        Ok(())
    }

    fn tally(&mut self, dtype: Dtype, name: &str) {
        let name = echo(name);
        match self.dtypes.get_mut(&dtype) {
            Some(tally) => {
                tally.tensors += 1;
                if *name < *tally.example {
                    tally.example = name.into_owned();
                }
            }
            None => {
                self.dtypes.insert(
                    dtype,
                    DtypeTally {
                        tensors: 1,
                        example: name.into_owned(),
                    },
                );
            }
        }
    }
}

fn byte_len(name: &str, dtype: Dtype, shape: &Shape) -> Result<u64, HeaderError> {
    let overflow = || HeaderError::ShapeOverflow {
        name: echo(name).into_owned(),
        shape: shape.clone(),
    };
    let elements = shape.elements().ok_or_else(overflow)?;
    let bits = elements.checked_mul(dtype.bits()).ok_or_else(overflow)?;
    if bits % 8 != 0 {
        return Err(HeaderError::PartialByte {
            name: echo(name).into_owned(),
            elements,
            dtype,
        });
    }
    Ok(bits / 8)
}

/// Sorted by offset, the tensors must follow each other with no overlap and no gap and
/// end where the data section ends. Names are looked up again only for the message.
fn check_tiling(json: &[u8], offsets: &mut [(u64, u64)], data_len: u64) -> Result<(), HeaderError> {
    offsets.sort_unstable();
    let mut previous_end = 0u64;
    for &(begin, end) in offsets.iter() {
        if begin < previous_end {
            return Err(HeaderError::Overlap {
                name: name_at_offsets(json, begin, end),
                begin,
                previous_end,
            });
        }
        if begin > previous_end {
            return Err(HeaderError::Gap {
                name: name_at_offsets(json, begin, end),
                begin,
                previous_end,
            });
        }
        previous_end = end;
    }
    if previous_end != data_len {
        return Err(HeaderError::DataLenMismatch {
            tensors_end: previous_end,
            data_len,
        });
    }
    Ok(())
}

/// The (shortened) name of a tensor with these offsets: a second pass over a header
/// already parsed once, run only to word an error.
fn name_at_offsets(json: &[u8], begin: u64, end: u64) -> String {
    find_name(json, |_, offsets| offsets == Some([begin, end])).unwrap_or_default()
}

/// The name two tensors share, when two names hash alike and really are equal.
fn duplicate_name(json: &[u8], hasher: &RandomState, hash: u64) -> Option<String> {
    let mut first: Option<String> = None;
    let mut duplicate = None;
    find_name(json, |name, _| {
        if hasher.hash_one(name) != hash {
            return false;
        }
        match &first {
            None => {
                first = Some(name.to_owned());
                false
            }
            Some(seen) if seen == name => {
                duplicate = Some(echo(name).into_owned());
                true
            }
            Some(_) => false,
        }
    });
    duplicate
}

/// The first tensor name (shortened) for which `wanted(name, data_offsets)` holds.
fn find_name(json: &[u8], wanted: impl FnMut(&str, Option<[u64; 2]>) -> bool) -> Option<String> {
    struct Finder<F>(F);
    impl<'de, F: FnMut(&str, Option<[u64; 2]>) -> bool> Visitor<'de> for Finder<F> {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a safetensors header")
        }
        fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
            while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
                if name == METADATA {
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
                let offsets = map.next_value::<ScanTensor>()?.data_offsets;
                if (self.0)(&name, offsets) {
                    return Ok(Some(echo(&name).into_owned()));
                }
            }
            Ok(None)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    deserializer.deserialize_map(Finder(wanted)).ok().flatten()
}

const METADATA: &str = "__metadata__";

/// A JSON string, borrowed from the header when it has no escapes (a map key, a name).
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct Key<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

/// Any string, checked and dropped (the metadata's keys and values).
struct AnyString;

impl<'de> Deserialize<'de> for AnyString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringVisitor;
        impl Visitor<'_> for StringVisitor {
            type Value = AnyString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<AnyString, E> {
                Ok(AnyString)
            }
        }
        deserializer.deserialize_str(StringVisitor)
    }
}

/// `__metadata__`: a map of strings to strings, checked and not kept (no check needs it).
struct Metadata;

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetadataVisitor;
        impl<'de> Visitor<'de> for MetadataVisitor {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings to strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                while map.next_entry::<AnyString, AnyString>()?.is_some() {}
                Ok(Metadata)
            }
        }
        deserializer.deserialize_map(MetadataVisitor)
    }
}

#[derive(Deserialize)]
struct RawTensor<'a> {
    #[serde(borrow)]
    dtype: Cow<'a, str>,
    shape: Shape,
    data_offsets: [u64; 2],
}

/// A tensor entry read only for its offsets (the second pass that words an error).
#[derive(Deserialize)]
struct ScanTensor {
    #[serde(default)]
    data_offsets: Option<[u64; 2]>,
}

/// Walks the header's map once, handing each tensor to [`ParseState::tensor`].
struct HeaderSeed<'s> {
    state: &'s mut ParseState,
}

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of tensor names to {dtype, shape, data_offsets}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if key == METADATA {
                if self.state.metadata_seen {
                    return Err(de::Error::duplicate_field(METADATA));
                }
                self.state.metadata_seen = true;
                map.next_value::<Metadata>().map_err(|e| {
                    de::Error::custom(format_args!("{METADATA} must map strings to strings ({e})"))
                })?;
                continue;
            }
            let raw = map.next_value::<RawTensor<'de>>().map_err(|e| {
                de::Error::custom(format_args!("tensor {}: {e}", echo_quoted(&key)))
            })?;
            if let Err(err) = self.state.tensor(&key, raw) {
                self.state.error = Some(err);
                return Err(de::Error::custom("inconsistent tensor"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str, data_len: u64) -> Result<Header, HeaderError> {
        parse_header(json.as_bytes(), data_len)
    }

    #[test]
    fn accepts_a_well_formed_header_and_keeps_what_the_checks_need() {
        let h = header(
            r#"{"__metadata__":{"format":"pt"},
                "b":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},
                "a":{"dtype":"F32","shape":[],"data_offsets":[12,16]},
                "empty":{"dtype":"F16","shape":[0,4],"data_offsets":[16,16]},
                "c\u0041":{"dtype":"BF16","shape":[0],"data_offsets":[16,16]}}   "#,
            16,
        )
        .unwrap();
        assert_eq!(h.len(), 4);
        for name in ["a", "b", "empty", "cA"] {
            assert_eq!(h.contains(name), Some(true), "{name}");
        }
        assert_eq!(h.contains("c"), Some(false));
        let bf16 = &h.dtypes()[&Dtype::BF16];
        assert_eq!((bf16.tensors, bf16.example.as_str()), (2, "b"));
        let mut h = h;
        h.forget_names();
        assert_eq!(h.contains("a"), None);
    }

    #[test]
    fn echoed_values_are_shortened() {
        let long = "N".repeat(5_000_000);
        let json = format!(r#"{{"{long}":{{"dtype":"{long}","shape":[1],"data_offsets":[0,4]}}}}"#);
        let err = header(&json, 4).unwrap_err().to_string();
        assert!(err.len() < 1_000, "{} bytes", err.len());
        assert!(err.contains("…"), "{err}");
        let json = format!(r#"{{"a":{{"dtype":"F32","shape":[1],"data_offsets":"{long}"}}}}"#);
        let err = header(&json, 4).unwrap_err().to_string();
        assert!(err.len() < 1_000, "{} bytes", err.len());
    }

    #[test]
    fn a_shape_of_millions_of_dimensions_is_summarised() {
        let dims = vec!["1"; 3_000_000].join(",");
        let json = format!(r#"{{"a":{{"dtype":"F32","shape":[{dims}],"data_offsets":[0,8]}}}}"#);
        let err = header(&json, 8).unwrap_err().to_string();
        assert!(err.contains("3000000 dimensions"), "{err}");
        assert!(err.len() < 1_000);
        assert_eq!(format!("{:?}", Shape::of(&[2, 3])), "[2, 3]");
    }

    #[test]
    fn tiling_errors_name_the_tensor_found_again() {
        let err = header(
            r#"{"z":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
            12,
        )
        .unwrap_err();
        assert!(
            matches!(&err, HeaderError::Overlap { name, .. } if name == "y"),
            "{err}"
        );
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
        assert_eq!(h.dtypes()[&Dtype::F4].tensors, 1);
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
