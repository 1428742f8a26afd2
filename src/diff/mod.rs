//! Diffs between desired states. [`revisions`] compares the rendered fleet
//! at two commits, for pull-request review; it is a pure function of two
//! loaded (or failed) fleets.

pub mod revisions;
mod text;

pub use revisions::{
    ClusterDiff, ClusterOutcome, FleetDiff, ObjectChange, ObjectChangeKind, diff_fleets,
};
pub use text::{Side, redact_secret, unified_diff};
