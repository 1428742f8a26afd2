//! Every output for people and programs, in one place: the view types
//! ([`view`]), the words they use ([`words`]), and one writer per format
//! ([`text`], [`markdown`], [`json`], [`yaml`], [`html`]). A command builds a
//! view and calls [`Report::render`] with the [`OutputFormat`] asked for; the
//! CLI, the HTTP API and the status page all go through here, so every form
//! of a report says the same thing in the same words. JSON is the serde form
//! of the same data.

mod escape;
pub mod html;
pub mod json;
pub mod markdown;
pub mod text;
pub mod view;
pub mod words;
pub mod yaml;

use std::fmt;
use std::str::FromStr;

pub use markdown::{
    Comment, CommentOptions, DEFAULT_MAX_COMMENT_CHARS, diff_comment, diff_markdown, drift_markdown,
};
pub use text::{diff_text, drift_text};
pub use view::{
    Badge, ClusterRow, Drift, Manifests, StatusPage, SyncSummary, Tone, ValidatedCluster,
    Validation,
};

/// One output format. Each report accepts the subset listed in its
/// [`Report::FORMATS`]; asking for another is a [`ReportError::Unsupported`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// Plain text, for a terminal.
    Text,
    /// JSON: the serde form of the view, pretty-printed.
    Json,
    /// Markdown, fit for a pull-request comment.
    Markdown,
    /// YAML (Kubernetes manifests).
    Yaml,
    /// A standalone HTML page.
    Html,
}

impl OutputFormat {
    /// Every format, in the order help texts list them.
    pub const ALL: &'static [OutputFormat] = &[
        OutputFormat::Text,
        OutputFormat::Json,
        OutputFormat::Markdown,
        OutputFormat::Yaml,
        OutputFormat::Html,
    ];

    /// The name users type (`-o text`, `?format=markdown`).
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Text => "text",
            OutputFormat::Json => "json",
            OutputFormat::Markdown => "markdown",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Html => "html",
        }
    }

    /// One line of help about the format.
    pub fn help(self) -> &'static str {
        match self {
            OutputFormat::Text => "Plain text",
            OutputFormat::Json => "JSON",
            OutputFormat::Markdown => "Markdown, fit for a pull-request comment",
            OutputFormat::Yaml => "YAML",
            OutputFormat::Html => "A standalone HTML page",
        }
    }

    /// The HTTP media type of the format.
    pub fn media_type(self) -> &'static str {
        match self {
            OutputFormat::Text => "text/plain; charset=utf-8",
            OutputFormat::Json => "application/json",
            OutputFormat::Markdown => "text/markdown; charset=utf-8",
            OutputFormat::Yaml => "application/yaml",
            OutputFormat::Html => "text/html; charset=utf-8",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no [`OutputFormat`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}")]
pub struct UnknownFormat(pub String);

impl FromStr for OutputFormat {
    type Err = UnknownFormat;

    /// The [`OutputFormat::name`]s, and `md` for markdown.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "md" => Ok(OutputFormat::Markdown),
            _ => OutputFormat::ALL
                .iter()
                .copied()
                .find(|f| f.name() == s)
                .ok_or_else(|| UnknownFormat(s.to_string())),
        }
    }
}

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report has no form in this format.
    #[error("the {report} has no {format} form")]
    Unsupported {
        /// What the report is, in words.
        report: &'static str,
        /// The format asked for.
        format: OutputFormat,
    },
    /// The JSON encoder failed.
    #[error("encoding JSON")]
    Json(#[source] serde_json::Error),
}

/// A view that can be rendered in some [`OutputFormat`]s: the one interface
/// every output of Flotilla goes through.
pub trait Report {
    /// What the report is, in words (for errors).
    const NAME: &'static str;
    /// The formats it has, the default first.
    const FORMATS: &'static [OutputFormat];

    /// The report in `format`, ready to print as is (a trailing newline
    /// included).
    fn render(&self, format: OutputFormat) -> Result<String, ReportError>;

    /// The error for a format not in [`Report::FORMATS`].
    fn unsupported(&self, format: OutputFormat) -> ReportError {
        ReportError::Unsupported {
            report: Self::NAME,
            format,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in OutputFormat::ALL {
            assert_eq!(f.name().parse::<OutputFormat>().unwrap(), *f);
            assert_eq!(f.to_string(), f.name());
        }
        assert_eq!(
            "md".parse::<OutputFormat>().unwrap(),
            OutputFormat::Markdown
        );
        assert_eq!(
            "xml".parse::<OutputFormat>().unwrap_err().to_string(),
            "unknown format \"xml\""
        );
    }
}
