//! Reading the YAML documents of a folder and telling them apart: plain
//! manifests, `Patch` documents and KubeFed `Federated<Kind>` objects.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::fleet_file::API_VERSION;
use super::kubefed;
use super::workers::Workers;
use crate::diagnostic::Diagnostic;
use crate::model::{Document, DocumentBody, Origin, Patch, PatchSpec, Template, build_patch};
use crate::snapshot::Snapshot;
use crate::yaml::{self, RawDocument};

/// A document of a folder, classified.
pub(crate) enum Classified {
    /// A manifest or KubeFed object that contributes an object.
    Object(Document),
    /// A Patch document.
    Patch(Patch),
}

/// The YAML files below `folder`, recursively, in lexical order; hidden
/// files and folders are skipped.
pub(crate) fn yaml_files<'a>(
    snapshot: &'a Snapshot,
    folder: &'a str,
) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
    snapshot.files_under(folder).filter(move |(path, _)| {
        let rel = &path[folder.len()..];
        (path.ends_with(".yaml") || path.ends_with(".yml"))
            && !rel.split('/').any(|seg| seg.starts_with('.'))
    })
}

/// Reads and classifies every document below `folder`, each by one job of
/// `workers`; the result, diagnostics included, is in the files' and the
/// documents' order.
pub(crate) fn read_folder(
    snapshot: &Snapshot,
    folder: &str,
    workers: &dyn Workers,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Classified> {
    /// One file that is not UTF-8, or one document of a file.
    enum Item<'t> {
        NotUtf8(&'t str),
        Document(Arc<str>, RawDocument<'t>),
    }
    let mut items = Vec::new();
    for (path, bytes) in yaml_files(snapshot, folder) {
        let Ok(text) = std::str::from_utf8(bytes) else {
            items.push(Item::NotUtf8(path));
            continue;
        };
        let file: Arc<str> = Arc::from(path);
        items.extend(
            yaml::split_documents(text)
                .into_iter()
                .map(|raw| Item::Document(file.clone(), raw)),
        );
    }
    let classified = super::workers::map(workers, &items, |item| match item {
        Item::NotUtf8(path) => Err(vec![Diagnostic::new(*path, "the file is not valid UTF-8")]),
        Item::Document(file, raw) => match classify(file, raw, snapshot.sops_keys()) {
            Ok(Some(Classified::Object(doc))) => {
                let invalid = invalid_object(&doc);
                if invalid.is_empty() {
                    Ok(Some(Classified::Object(doc)))
                } else {
                    Err(invalid)
                }
            }
            Ok(c) => Ok(c),
            Err(d) => Err(vec![d]),
        },
    });
    let mut out = Vec::new();
    for c in classified {
        match c {
            Ok(Some(c)) => out.push(c),
            Ok(None) => {}
            Err(d) => diags.extend(d),
        }
    }
    out
}

fn classify(
    file: &Arc<str>,
    raw: &RawDocument<'_>,
    sops_keys: Option<&crate::sops::AgeKeys>,
) -> Result<Option<Classified>, Diagnostic> {
    let origin = Origin {
        file: file.clone(),
        document: raw.index,
        line: raw.start_line,
    };
    let mut value: Value = yaml::parse(file, raw)?;
    if value.is_null() {
        return Ok(None);
    }
    if crate::sops::is_encrypted(&value) {
        // Only Secrets: their values are masked in every diff and report.
        if value.get("kind").and_then(Value::as_str) != Some("Secret")
            || value.get("apiVersion").and_then(Value::as_str) != Some("v1")
        {
            return Err(origin
                .diagnostic("SOPS-encrypted documents must be v1 Secrets (their values are masked in every diff and report)")
                .context("kind"));
        }
        value = crate::sops::decrypt(&value, sops_keys).map_err(|e| {
            origin
                .diagnostic(format!("cannot decrypt: {e}"))
                .context("sops")
        })?;
    }
    if !value.is_object() {
        return Err(origin.diagnostic(
            "a document must be a mapping (a Kubernetes object), not a list or a scalar",
        ));
    }
    let api_version = required_str(&value, "apiVersion", &origin)?;
    let kind = required_str(&value, "kind", &origin)?;
    if api_version == API_VERSION && kind == "Patch" {
        // Read from the value already parsed; only on an error is the YAML
        // parsed again, for the line and column of the error.
        let raw_patch: PatchSpec = match PatchSpec::deserialize(&value) {
            Ok(p) => p,
            Err(_) => yaml::parse(file, raw)?,
        };
        let template = Template::new(value);
        let patch = build_patch(origin, raw_patch, template.substitutes.then_some(template))?;
        return Ok(Some(Classified::Patch(patch)));
    }
    if api_version.starts_with("flotilla.dev/") {
        return Err(origin.diagnostic(format!(
            "{api_version} {kind} cannot appear here: only {API_VERSION} Patch documents and Kubernetes objects belong in bases and overlays"
        )).context("kind"));
    }
    if api_version == kubefed::API_VERSION && kind.starts_with("Federated") {
        let fed = kubefed::convert(file, raw, &origin)?;
        return Ok(Some(Classified::Object(Document {
            origin,
            body: DocumentBody::Federated(fed),
        })));
    }
    check_manifest(&value, &origin)?;
    Ok(Some(Classified::Object(Document {
        origin,
        body: DocumentBody::Manifest(Template::new(value)),
    })))
}

/// What a real API server would refuse in a document's object, as
/// diagnostics: its identity fields (apiVersion, kind, metadata.name and
/// .namespace; values still holding `${...}` are checked after
/// substitution, at render), and its size and depth budgets.
fn invalid_object(doc: &Document) -> Vec<Diagnostic> {
    use crate::model::budget::{MAX_DEPTH, MAX_OBJECT_BYTES, human};
    let template = match &doc.body {
        DocumentBody::Manifest(t) => t,
        DocumentBody::Federated(f) => &f.object,
    };
    let mut out: Vec<Diagnostic> =
        crate::model::names::check_object_identity(&template.value, template.substitutes)
            .into_iter()
            .map(|i| doc.origin.diagnostic(i.message).context(i.field))
            .collect();
    if template.depth > MAX_DEPTH {
        out.push(doc.origin.diagnostic(format!(
            "the object nests {} levels deep; at most {MAX_DEPTH} are allowed",
            template.depth
        )));
    }
    if !template.substitutes && template.size > MAX_OBJECT_BYTES {
        out.push(doc.origin.diagnostic(format!(
            "the object is larger than {} as JSON, the most one Kubernetes object may hold",
            human(MAX_OBJECT_BYTES)
        )));
    }
    out
}

fn required_str<'v>(value: &'v Value, field: &str, origin: &Origin) -> Result<&'v str, Diagnostic> {
    match value.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(origin
            .diagnostic("must be a non-empty string")
            .context(field.to_string())),
        None => Err(origin.diagnostic("is required").context(field.to_string())),
    }
}

/// Checks that a plain manifest has what GitOps needs: a fixed name.
fn check_manifest(value: &Value, origin: &Origin) -> Result<(), Diagnostic> {
    let kind = value["kind"].as_str().unwrap_or_default();
    if kind == "List" || (kind.ends_with("List") && value.get("items").is_some()) {
        return Err(origin
            .diagnostic("a List cannot be placed: write one object per document, separated by ---")
            .context("kind"));
    }
    let meta = value.get("metadata");
    match meta.and_then(|m| m.get("name")) {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(_) => {
            return Err(origin
                .diagnostic("must be a non-empty string")
                .context("metadata.name"));
        }
        None if meta.and_then(|m| m.get("generateName")).is_some() => {
            return Err(origin
                .diagnostic("generateName is not supported: GitOps needs a fixed metadata.name to track the object")
                .context("metadata.name"));
        }
        None => return Err(origin.diagnostic("is required").context("metadata.name")),
    }
    if let Some(ns) = meta.and_then(|m| m.get("namespace"))
        && ns.as_str().is_none_or(str::is_empty)
    {
        return Err(origin
            .diagnostic("must be a non-empty string when given")
            .context("metadata.namespace"));
    }
    Ok(())
}
