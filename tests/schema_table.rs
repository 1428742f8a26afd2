//! The built-in schema table (`crates/flotilla-core/src/diff/schema/builtin_table.rs`) is generated
//! from a real API server's OpenAPI v3 documents: this test runs the parser
//! over `../shared/apiserver-traces/openapi/openapi-v3/*.json` (relative to the
//! repository root; `FLOTILLA_OPENAPI_DIR` names another folder holding `openapi-v3/`) and fails if the
//! committed table differs. `FLOTILLA_REGEN_SCHEMA=1` rewrites it instead.
//! Without the documents it fails, naming the folder: CI and every developer
//! have `../shared` beside the repository.

use std::path::PathBuf;

use flotilla_core::diff::schema::{Schema, from_openapi_v3, table_source};

#[test]
fn the_builtin_table_is_generated_from_the_openapi_documents() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // The same variable the test API server reads: the folder holding
    // `openapi-v3/`, by default the shared recorded documents.
    let dir = std::env::var_os("FLOTILLA_OPENAPI_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/apiserver-traces/openapi"))
        .join("openapi-v3");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "no OpenAPI documents at {} ({e}): set FLOTILLA_OPENAPI_DIR",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name().is_some_and(|n| n != "index.json")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no documents in {}", dir.display());
    let mut schema = Schema::default();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable document");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("a JSON document");
        schema.merge(from_openapi_v3(&doc).unwrap_or_else(|e| panic!("{}: {e}", f.display())));
    }
    let generated = table_source(&schema.compact());
    let path = root.join("crates/flotilla-core/src/diff/schema/builtin_table.rs");
    if std::env::var_os("FLOTILLA_REGEN_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("writable table");
        return;
    }
    let committed = std::fs::read_to_string(&path).expect("the committed table");
    assert!(
        committed == generated,
        "{} is out of date: regenerate it with FLOTILLA_REGEN_SCHEMA=1 cargo test --test schema_table",
        path.display()
    );
}
