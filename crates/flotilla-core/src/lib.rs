//! Flotilla's pure core: everything that turns a repository snapshot into
//! desired state, plans, judgements and reports, with no I/O.
//!
//! Data flows one way through these modules: [`snapshot`] -> [`load`] ->
//! [`model`] -> [`render`] -> [`diff`] / [`plan`] -> [`changeset`] /
//! [`drift`] -> [`report`]. Nothing here touches a file, a socket, a clock
//! or a thread pool; the shell crates (`flotilla-source`, `flotilla-engine`,
//! `flotilla-hub`, the `flotilla` binary) do, and call in here. See
//! `ARCHITECTURE.md`.

pub mod agent;
pub mod changeset;
pub mod diagnostic;
pub mod diff;
pub mod digest;
pub mod drift;
pub mod health;
pub mod load;
pub mod model;
pub mod plan;
pub mod render;
pub mod report;
pub mod snapshot;
pub mod sops;
pub mod yaml;
