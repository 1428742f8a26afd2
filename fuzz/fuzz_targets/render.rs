//! Render: any bytes as a base file and an overlay file (split at the first
//! NUL), loaded and rendered for the fleet's cluster.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (base, overlay) = text.split_once('\0').unwrap_or((common::BASE, text));
    common::load_and_render(base, overlay);
});
