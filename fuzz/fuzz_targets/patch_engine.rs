//! The patch engine: any bytes as the `jsonPatch` list (and, after a NUL,
//! the `merge` body) of a Patch document aimed at the base's ConfigMap.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (ops, merge) = text.split_once('\0').unwrap_or((text, ""));
    let mut patch = format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {{kind: ConfigMap, name: app}}\njsonPatch:\n{ops}\n"
    );
    if !merge.is_empty() {
        patch.push_str(&format!("---\napiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {{kind: ConfigMap, name: app}}\nmerge:\n{merge}\n"));
    }
    common::load_and_render(common::BASE, &patch);
});
