//! The resource manager: turn a cluster's desired state into actions on a
//! [`crate::cluster::Target`], in the style of Flux's `pkg/ssa`.
//!
//! - [`plan`] (pure): what to apply, in which order, and what to prune, with
//!   the mass-prune guard;
//! - [`run`]: carries a plan out against a target and returns a
//!   [`ChangeSet`] of typed actions that feeds logs, reports and the
//!   inventory alike;
//! - [`drift`]: desired against live, exact, for drift reports;
//! - [`inventory`]: the record, kept in the cluster itself, of what Flotilla
//!   applied there, so that prune deletes only what Flotilla owns.

pub mod changeset;
pub mod drift;
pub mod inventory;
pub mod plan;
pub mod run;

pub use changeset::{Action, Change, ChangeSet, Counts};
pub use inventory::{Inventory, InventoryEntry};
pub use plan::{Plan, PlanOptions, plan};
pub use run::{SyncOptions, sync_cluster};
