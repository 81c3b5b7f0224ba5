//! Any bytes as a whole safetensors file: the parser must never panic, and a header it
//! accepts must describe tensors that tile the data section exactly (checked here
//! again from the JSON, independently of the parser's own compact records).
#![no_main]

use ferry_core::validate::safetensors_header::{header_len, parse_header};
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
    match parse_header(json, data_len) {
        Ok(header) => {
            let value: serde_json::Value = serde_json::from_slice(json).expect("accepted JSON");
            let tensors: Vec<(&String, &serde_json::Value)> = value
                .as_object()
                .expect("an object")
                .iter()
                .filter(|(name, _)| *name != "__metadata__")
                .collect();
            assert_eq!(tensors.len(), header.len());
            let mut spans: Vec<(u64, u64)> = tensors
                .iter()
                .map(|(_, t)| {
                    let o = &t["data_offsets"];
                    (o[0].as_u64().expect("begin"), o[1].as_u64().expect("end"))
                })
                .collect();
            spans.sort_unstable();
            let mut end = 0;
            for (b, e) in spans {
                assert_eq!(b, end, "tensors must tile the data section");
                end = e;
            }
            assert_eq!(end, data_len);
            for (name, _) in &tensors {
                assert_eq!(header.contains(name), Some(true));
            }
        }
        Err(err) => assert!(err.to_string().len() < 2_000, "errors stay short"),
    }
});
