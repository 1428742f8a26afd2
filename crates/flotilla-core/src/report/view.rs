//! The view types reports are rendered from, and which formats each has.
//! A view holds the data of one report and nothing about how it looks; the
//! writers ([`super::text`], [`super::markdown`], [`super::json`],
//! [`super::yaml`], [`super::html`]) turn it into a format.

use std::time::SystemTime;

use serde::Serialize;

use crate::changeset::ChangeSet;
use crate::diagnostic::Diagnostics;
use crate::diff::FleetDiff;
use crate::drift::{ClusterDrift, DriftReport};
use crate::health::HealthStatus;
use crate::render::DesiredState;

use super::{OutputFormat, Report, ReportError, html, json, markdown, text, yaml};

/// The drift report across the fleet (`flotilla drift`, `flotilla diff`
/// without `--from`, the drift API).
#[derive(Clone, Copy, Debug)]
pub struct Drift<'a> {
    /// The report.
    pub report: &'a DriftReport,
    /// Whether the text form shows each modified object's unified diff (the
    /// markdown form always does).
    pub diffs: bool,
}

impl Report for Drift<'_> {
    const NAME: &'static str = "drift report";
    const FORMATS: &'static [OutputFormat] = &[
        OutputFormat::Text,
        OutputFormat::Json,
        OutputFormat::Markdown,
    ];

    fn render(&self, format: OutputFormat) -> Result<String, ReportError> {
        match format {
            OutputFormat::Text => Ok(text::drift_text(self.report, self.diffs)),
            OutputFormat::Markdown => Ok(markdown::drift_markdown(self.report)),
            OutputFormat::Json => json::pretty(self.report),
            other => Err(self.unsupported(other)),
        }
    }
}

/// The rendered change between two commits (`flotilla diff --from --to`).
impl Report for FleetDiff {
    const NAME: &'static str = "rendered change";
    const FORMATS: &'static [OutputFormat] = &[
        OutputFormat::Text,
        OutputFormat::Json,
        OutputFormat::Markdown,
    ];

    fn render(&self, format: OutputFormat) -> Result<String, ReportError> {
        match format {
            OutputFormat::Text => Ok(text::diff_text(self)),
            OutputFormat::Markdown => Ok(markdown::diff_markdown(self)),
            OutputFormat::Json => json::pretty(self),
            other => Err(self.unsupported(other)),
        }
    }
}

/// What a sync did: one [`ChangeSet`] per cluster, in fleet order.
#[derive(Clone, Copy, Debug)]
pub struct SyncSummary<'a>(pub &'a [ChangeSet]);

impl Report for SyncSummary<'_> {
    const NAME: &'static str = "sync summary";
    const FORMATS: &'static [OutputFormat] = &[OutputFormat::Text, OutputFormat::Json];

    fn render(&self, format: OutputFormat) -> Result<String, ReportError> {
        match format {
            OutputFormat::Text => Ok(text::sync_summary(self.0)),
            OutputFormat::Json => json::pretty(&self.0),
            other => Err(self.unsupported(other)),
        }
    }
}

/// One cluster of a [`Validation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedCluster {
    /// The cluster.
    pub name: String,
    /// How many objects it rendered to; `None` when it did not render.
    pub objects: Option<usize>,
}

/// The result of `flotilla validate`.
#[derive(Clone, Debug, PartialEq)]
pub struct Validation {
    /// The revision validated (`work tree` for a folder).
    pub revision: String,
    /// Every cluster rendered, in fleet order.
    pub clusters: Vec<ValidatedCluster>,
    /// Every problem found, coalesced.
    pub errors: Diagnostics,
    /// Notes that are not errors (fields a controller owns), each with the
    /// clusters it applies to.
    pub notes: Vec<(String, Vec<String>)>,
}

impl Validation {
    /// Whether nothing was found.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The JSON form of a [`Validation`].
#[derive(Serialize)]
struct ValidationJson<'a> {
    valid: bool,
    revision: &'a str,
    clusters: Vec<ValidatedClusterJson<'a>>,
    errors: &'a Diagnostics,
    notes: Vec<NoteJson<'a>>,
}

/// A note of a [`Validation`] (not an error) in JSON: the text and the
/// clusters it applies to.
#[derive(Serialize)]
struct NoteJson<'a> {
    note: &'a str,
    clusters: &'a [String],
}

#[derive(Serialize)]
struct ValidatedClusterJson<'a> {
    name: &'a str,
    rendered: bool,
    objects: Option<usize>,
}

impl Report for Validation {
    const NAME: &'static str = "validation";
    const FORMATS: &'static [OutputFormat] = &[OutputFormat::Text, OutputFormat::Json];

    fn render(&self, format: OutputFormat) -> Result<String, ReportError> {
        match format {
            OutputFormat::Text => Ok(text::validation(self)),
            OutputFormat::Json => json::pretty(&ValidationJson {
                valid: self.is_valid(),
                revision: &self.revision,
                clusters: self
                    .clusters
                    .iter()
                    .map(|c| ValidatedClusterJson {
                        name: &c.name,
                        rendered: c.objects.is_some(),
                        objects: c.objects,
                    })
                    .collect(),
                errors: &self.errors,
                notes: self
                    .notes
                    .iter()
                    .map(|(note, clusters)| NoteJson { note, clusters })
                    .collect(),
            }),
            other => Err(self.unsupported(other)),
        }
    }
}

/// The desired state of clusters as manifests (`flotilla render`).
#[derive(Clone, Copy, Debug)]
pub struct Manifests<'a>(pub &'a [DesiredState]);

impl Report for Manifests<'_> {
    const NAME: &'static str = "desired state";
    const FORMATS: &'static [OutputFormat] = &[OutputFormat::Yaml, OutputFormat::Json];

    fn render(&self, format: OutputFormat) -> Result<String, ReportError> {
        match format {
            OutputFormat::Yaml => Ok(yaml::manifests(self.0)),
            OutputFormat::Json => json::manifests(self.0),
            other => Err(self.unsupported(other)),
        }
    }
}

/// How a badge looks: the page's colours, by meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Good (green).
    Ok,
    /// Under way (blue).
    Info,
    /// Needs a look (amber).
    Warn,
    /// Broken (red).
    Bad,
    /// Nothing known (grey).
    Muted,
}

/// A status word and how it looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Badge {
    /// The word, from [`super::words`] or the state's own type.
    pub word: &'static str,
    /// Its tone.
    pub tone: Tone,
}

/// One row of the status page's fleet x cluster matrix.
#[derive(Clone, Debug)]
pub struct ClusterRow<'a> {
    /// The cluster.
    pub name: &'a str,
    /// Its rollout wave.
    pub wave: &'a str,
    /// The commit last synced to it.
    pub revision: Option<&'a str>,
    /// Its rollout status.
    pub status: Badge,
    /// Its health.
    pub health: HealthStatus,
    /// Whether its health is judged (`false`: a target without status, such
    /// as a directory; shown as "not judged").
    pub health_judged: bool,
    /// Its labels, by key.
    pub labels: Vec<(&'a str, &'a str)>,
    /// The last drift check, if any.
    pub drift: Option<&'a ClusterDrift>,
    /// When drift was first seen, while it lasts.
    pub drift_since: Option<SystemTime>,
    /// When the last successful sync finished.
    pub last_success: Option<SystemTime>,
    /// The last error.
    pub last_error: Option<&'a str>,
    /// With many daemon replicas: the replica that owns the cluster.
    pub owner: Option<&'a str>,
}

/// The daemon's status page (`GET /`).
#[derive(Clone, Debug)]
pub struct StatusPage<'a> {
    /// The fleet's name (empty before the first commit loads).
    pub fleet: &'a str,
    /// Whether the first commit has been read.
    pub ready: bool,
    /// The commit being rolled out.
    pub good_revision: Option<&'a str>,
    /// The newest commit seen.
    pub seen_revision: Option<&'a str>,
    /// When Git was last polled successfully.
    pub last_poll: Option<SystemTime>,
    /// Why the newest commit is not rolled out.
    pub commit_error: Option<&'a str>,
    /// The last Git error.
    pub git_error: Option<&'a str>,
    /// The summary line of the commit being rolled out.
    pub commit_summary: Option<&'a str>,
    /// Its author.
    pub commit_author: Option<&'a str>,
    /// The rollout waves, in order; clusters are grouped by them.
    pub waves: Vec<&'a str>,
    /// Whether an operator paused the rollout.
    pub paused: bool,
    /// Why the last rollout round halted, while it stands.
    pub halt: Option<&'a str>,
    /// Whether the viewer may act (the `operate` role): the page then shows
    /// the action buttons.
    pub can_operate: bool,
    /// One row per cluster, in the order shown within its wave.
    pub clusters: Vec<ClusterRow<'a>>,
    /// The time the page is rendered at (ages are counted from it).
    pub now: SystemTime,
}

impl Report for StatusPage<'_> {
    const NAME: &'static str = "status page";
    const FORMATS: &'static [OutputFormat] = &[OutputFormat::Html];

    fn render(&self, format: OutputFormat) -> Result<String, ReportError> {
        match format {
            OutputFormat::Html => Ok(html::status_page(self)),
            other => Err(self.unsupported(other)),
        }
    }
}
