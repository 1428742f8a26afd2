//! The YAML loader: any bytes as a manifest, split and parsed, then loaded
//! as a base file of a fleet.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for doc in &flotilla_core::yaml::split_documents(text) {
        let _ = flotilla_core::yaml::parse::<serde_json::Value>("x.yaml", doc);
    }
    common::load_and_render(text, "# none\n");
});
