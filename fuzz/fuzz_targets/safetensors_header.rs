//! Any bytes as a whole safetensors file: the parser must never panic, and a header it
//! accepts must describe tensors that tile the data section exactly.
#![no_main]

use ferry_core::safetensors_header::{header_len, parse_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|file: &[u8]| {
    let size = file.len() as u64;
    let Some(prefix) = file.get(..8).and_then(|p| <[u8; 8]>::try_from(p).ok()) else {
        assert!(header_len([0; 8], size).is_err());
        return;
    };
    let Ok(len) = header_len(prefix, size) else { return };
    let json = &file[8..8 + len as usize];
    let data_len = size - 8 - len;
    if let Ok(header) = parse_header(json, data_len) {
        let mut spans: Vec<(u64, u64)> = header.tensors.iter().map(|t| (t.begin, t.end)).collect();
        spans.sort_unstable();
        let mut end = 0;
        for (b, e) in spans {
            assert_eq!(b, end, "tensors must tile the data section");
            end = e;
        }
        assert_eq!(end, data_len);
        assert!(header.tensors.windows(2).all(|w| w[0].name < w[1].name));
    }
});
