//! The fleet model: plain data that the loader builds from a repository
//! snapshot and the renderer reads. Nothing here does I/O.

pub mod budget;
pub mod env_vars;
mod fleet;
pub mod inventory;
pub mod names;
mod object;
pub mod ownership;
mod patch;
mod selector;
pub mod tenancy;
pub mod wildcard;

pub use fleet::{
    Base, Cluster, Conflicts, Connection, Document, DocumentBody, Federated, Fleet, IgnoreRule,
    Layer, Origin, Overlay, Placement, Rollout, Template, Wave,
};
pub use inventory::{Inventory, InventoryEntry};
pub use object::{ObjectKey, group_of, is_cluster_scoped_kind};
pub use patch::{NameMatcher, Patch, PatchAction, PatchSpec, Target, build_patch, rebuild_patch};
pub use selector::{LabelSelector, Operator, Requirement};
pub use tenancy::{ServiceAccount, Tenant, TenantRef};
