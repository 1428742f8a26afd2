//! Flotilla's engine for one cluster: where desired state goes and the
//! resource-manager verbs that put it there.
//!
//! - [`destination`]: the [`destination::Destination`] trait (where desired
//!   state is written: a Kubernetes API server through the kube client, or a
//!   folder of hydrated manifests), `connect`, typed errors;
//! - the verbs, one per file: [`apply`] (staged: Namespaces and CRDs first,
//!   wait for CRDs, then the rest), [`delete`] (prune under the plan's
//!   guard), [`wait`] (CRDs Established, health), [`diff`] (desired against
//!   live, exact);
//! - [`reconcile`]: one entry point per use case, called by the CLI and the
//!   daemon alike: [`reconcile::reconcile_cluster`] (apply, prune,
//!   inventory) and [`reconcile::check_cluster`] (drift).
//!
//! The pure decisions (what to apply, what to prune, whether an object is in
//! sync) live in `flotilla-core`; this crate carries them out. It holds no
//! global state: each destination is a value its caller owns.

pub mod apply;
pub mod delete;
pub mod destination;
pub mod diff;
pub mod reconcile;
pub mod status;
pub mod wait;
