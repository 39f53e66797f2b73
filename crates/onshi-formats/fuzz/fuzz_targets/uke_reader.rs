//! Fuzzes the UKE reader: whatever the bytes, reading never panics, and a file that reads
//! without error writes back to the same bytes.
//!
//! `cargo +nightly fuzz run uke_reader` (from crates/onshi-formats).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use onshi_formats::uke::{ClaimReader, UkeFile};

fuzz_target!(|data: &[u8]| {
    for item in ClaimReader::new(Cursor::new(data)) {
        let _ = item;
    }
    if let Ok(file) = UkeFile::read(Cursor::new(data)) {
        let back = file.to_bytes().expect("a file that was read can be written");
        assert_eq!(back, data, "read then write changed the bytes");
    }
});
