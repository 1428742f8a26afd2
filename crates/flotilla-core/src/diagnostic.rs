//! Errors about the user's fleet repository, each pointing at its cause.
//!
//! A [`Diagnostic`] names the file, the document's position in it (1-based),
//! the line and column where the YAML parser gives one, and the field or patch
//! operation at fault. Loading and rendering collect every diagnostic they
//! find rather than stopping at the first, so `flotilla validate` can report
//! them all at once.

use std::fmt;

use serde::Serialize;

/// One problem in the fleet repository.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Diagnostic {
    /// Repository-relative path of the file at fault.
    pub file: String,
    /// 1-based position of the YAML document within the file, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<u32>,
    /// 1-based line in the file, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column in the file, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The field (`spec.clusters[2].name`) or patch operation
    /// (`jsonPatch[1] (replace /spec/replicas)`) at fault, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// What is wrong, in words.
    pub message: String,
    /// The clusters whose rendering hit this problem; empty for problems
    /// found while loading, which concern every cluster.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic about `file` with the given message and nothing else known.
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            document: None,
            line: None,
            column: None,
            context: None,
            message: message.into(),
            clusters: Vec::new(),
        }
    }

    /// Sets the 1-based document position.
    pub fn document(mut self, document: usize) -> Self {
        self.document = Some(saturate(document));
        self
    }

    /// Sets the 1-based line (and column, where known).
    pub fn at(mut self, line: usize, column: Option<usize>) -> Self {
        self.line = Some(saturate(line));
        self.column = column.map(saturate);
        self
    }

    /// Sets the field or operation at fault.
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Records the cluster whose rendering hit the problem.
    pub fn cluster(mut self, cluster: impl Into<String>) -> Self {
        self.clusters = vec![cluster.into()];
        self
    }
}

/// Positions are stored as `u32` to keep diagnostics small; no YAML file
/// has four billion lines.
fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(document) = self.document {
            write!(f, ": document {document}")?;
        }
        if let Some(context) = &self.context {
            write!(f, ": {context}")?;
        }
        write!(f, ": {}", self.message)?;
        match self.clusters.len() {
            0 => Ok(()),
            1 => write!(f, " (cluster {})", self.clusters[0]),
            _ => write!(f, " (clusters {})", self.clusters.join(", ")),
        }
    }
}

impl std::error::Error for Diagnostic {}

/// Every problem found in one load or render, in a stable order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of diagnostics.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Iterates over the diagnostics.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// `Ok(value)` when nothing was found, the diagnostics otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Sorts by file, position and message, and folds diagnostics that differ
    /// only in their cluster into one that lists every cluster, so that a bad
    /// overlay reaching forty clusters reads as one problem, not forty.
    pub fn coalesce(self) -> Self {
        let mut folded: Vec<Diagnostic> = Vec::new();
        let mut items = self.0;
        items.sort_by(|a, b| {
            (
                &a.file, a.line, a.document, a.column, &a.context, &a.message,
            )
                .cmp(&(
                    &b.file, b.line, b.document, b.column, &b.context, &b.message,
                ))
                .then_with(|| a.clusters.cmp(&b.clusters))
        });
        for item in items {
            if let Some(last) = folded.last_mut() {
                let same = last.file == item.file
                    && last.document == item.document
                    && last.line == item.line
                    && last.column == item.column
                    && last.context == item.context
                    && last.message == item.message;
                if same {
                    for c in item.clusters {
                        if !last.clusters.contains(&c) {
                            last.clusters.push(c);
                        }
                    }
                    continue;
                }
            }
            folded.push(item);
        }
        Diagnostics(folded)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<I: IntoIterator<Item = Diagnostic>>(&mut self, iter: I) {
        self.0.extend(iter)
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_document_context_and_clusters() {
        let d = Diagnostic::new("overlays/x/p.yaml", "path does not exist")
            .document(2)
            .at(14, Some(5))
            .context("jsonPatch[1] (replace /spec/x)")
            .cluster("a");
        assert_eq!(
            d.to_string(),
            "overlays/x/p.yaml:14:5: document 2: jsonPatch[1] (replace /spec/x): path does not exist (cluster a)"
        );
    }

    #[test]
    fn coalesce_folds_the_same_problem_on_several_clusters() {
        let base = Diagnostic::new("f.yaml", "boom").document(1);
        let ds = Diagnostics(vec![
            base.clone().cluster("b"),
            Diagnostic::new("a.yaml", "other"),
            base.clone().cluster("a"),
        ])
        .coalesce();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.0[1].clusters, ["a", "b"]);
        assert_eq!(
            ds.to_string(),
            "a.yaml: other\nf.yaml: document 1: boom (clusters a, b)"
        );
    }
}
