//! Reports for people: the rendered change between two commits, and drift,
//! as plain text or as markdown fit for a pull-request comment. JSON output is the
//! serde form of the same data, so all three say the same thing.

mod drift;
mod markdown;
mod revisions;

pub use drift::{drift_markdown, drift_text};
pub use revisions::{diff_markdown, diff_text};
