//! Flotilla: a GitOps sync engine for fleets of Kubernetes clusters.
//!
//! The library is a functional core with an imperative shell; see
//! `ARCHITECTURE.md` for the code map and the invariants.

pub mod cluster;
pub mod daemon;
pub mod diagnostic;
pub mod diff;
pub(crate) mod digest;
pub mod health;
pub mod load;
pub mod model;
pub mod render;
pub mod report;
pub mod snapshot;
pub mod source;
pub mod sync;
pub mod yaml;
