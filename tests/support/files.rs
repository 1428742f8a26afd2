//! Files: writing fleet repositories into temporary folders, reading them
//! back, and the fixtures of `tests/testdata/`.

use std::path::Path;

use base64::Engine;
use serde_json::Value;

/// The fixture folder.
pub const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testdata");

/// The example fleet shipped with Flotilla.
pub const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleet-repo");

/// Writes `text` to `dir/rel`, creating folders.
pub fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

/// Reads `dir/rel`.
pub fn read(dir: &Path, rel: &str) -> String {
    let p = dir.join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// Copies a folder tree (regular files only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The fixture `tests/testdata/<name>`.
pub fn fixture(name: &str) -> String {
    read(Path::new(TESTDATA), name)
}

/// Fixtures as one multi-document stream.
pub fn fixtures(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| fixture(n))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A fixture, parsed.
pub fn fixture_json(name: &str) -> Value {
    flotilla_core::yaml::parse_file(name, &fixture(name)).expect("a fixture parses")
}

/// `s` in base64, as a Secret's `data` holds it.
pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}
