//! Diffs, all pure. [`revisions`] compares the rendered fleet at two commits,
//! for pull-request review; [`live`] compares a desired object with its live
//! copy field by field, with [`normalize`] deciding what the server treats as
//! equal.

pub mod controlled;
pub mod live;
pub mod normalize;
pub mod ownership;
pub mod revisions;
pub mod schema;
mod text;

pub use revisions::{
    ClusterDiff, ClusterOutcome, FleetDiff, ObjectChange, ObjectChangeKind, WaveReach, diff_fleets,
};
pub use text::{Side, redact_secret, unified_diff};
