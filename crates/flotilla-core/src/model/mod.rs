//! The fleet model: plain data that the loader builds from a repository
//! snapshot and the renderer reads. Nothing here does I/O.

mod fleet;
pub mod inventory;
mod object;
pub mod ownership;
mod patch;
mod selector;

pub use fleet::{
    Base, Cluster, Connection, Document, DocumentBody, Federated, Fleet, IgnoreRule, Layer, Origin,
    Overlay, Placement, Rollout, Template, Wave,
};
pub use inventory::{Inventory, InventoryEntry};
pub use object::{ObjectKey, group_of, is_cluster_scoped_kind};
pub use patch::{Patch, PatchAction, PatchSpec, Target, build_patch, rebuild_patch};
pub use selector::{LabelSelector, Operator, Requirement};
