//! Flotilla's engine for one cluster: where desired state goes and the
//! resource-manager verbs that put it there.
//!
//! - [`cluster`]: the destinations (a Kubernetes API server through the kube
//!   client, or a folder of hydrated manifests), `connect`, typed errors;
//! - [`sync`]: apply a cluster's desired state in order, wait for CRDs,
//!   prune what left Git under the safety rules, keep the inventory;
//! - [`diff`]: desired against live, exact, for drift reports.
//!
//! The pure decisions (what to apply, what to prune, whether an object is in
//! sync) live in `flotilla-core`; this crate carries them out.

pub mod cluster;
pub mod diff;
pub mod sync;
