//! Clusters: where desired state is applied. The only module that speaks
//! HTTP to clusters.
//!
//! A [`Destination`] is the narrow interface the resource manager ([`crate::reconcile`])
//! drives: read live objects, apply one, wait for a CRD, delete one, and read
//! and write the inventory. [`kube::KubeDestination`] implements it over the kube
//! client (server-side apply, field manager `flotilla`);
//! [`directory::DirectoryDestination`] writes hydrated manifests to a folder.

pub mod connect;
pub mod directory;
pub mod error;
pub mod kube;
pub mod safe_fs;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use flotilla_core::diff::controlled::ControllerRead;
use flotilla_core::diff::schema::Schema;
use serde_json::Value;

pub use connect::{AnyDestination, ConnectOptions, connect};
pub use error::{ClusterError, ConfigError, Status};

use flotilla_core::model::ObjectKey;
use flotilla_core::model::{Inventory, InventoryEntry};
use flotilla_core::plan::PruneWindow;

/// The field manager of every Flotilla write.
pub use flotilla_core::model::ownership::FIELD_MANAGER;

/// How to apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Validate and compute, store nothing (`dryRun=All`).
    pub dry_run: bool,
    /// Take ownership of fields another field manager owns.
    pub force_conflicts: bool,
    /// Keep the server's answer to each write for
    /// [`Destination::take_written`]. Without it only what the result needs
    /// is read from the answer (no object is built or held: a sync whose
    /// caller wants no live state after it costs less).
    pub keep_written: bool,
}

/// What an apply did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The object did not exist.
    Created,
    /// The object existed and changed.
    Configured,
    /// The object existed and did not change.
    Unchanged,
}

/// What changed on a destination since it was last asked
/// ([`Destination::take_changes`]): event-driven drift compares only the
/// objects that changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Changes {
    /// Not tracked (no watch), or changes may have been missed (a kind
    /// without a watch yet): compare everything.
    #[default]
    Unknown,
    /// Only these objects changed (none, possibly). `status` tells that
    /// some object's `status` changed (its health may have), which is never
    /// drift.
    Only {
        /// Keys as the cluster names them (namespace set for namespaced
        /// kinds).
        keys: std::collections::BTreeSet<ObjectKey>,
        /// Some object's status changed.
        status: bool,
    },
}

/// A place desired state is applied to.
#[allow(async_fn_in_trait)]
pub trait Destination {
    /// The live copies of the given objects that exist, by key. `api_version`
    /// tells how to address each. Implementations batch reads (one list per
    /// kind) where they can; an object absent from the result does not exist.
    /// Objects are lent (`Arc`): a destination that caches live state hands
    /// out its cached copies without cloning them.
    async fn live(
        &mut self,
        objects: &[(&str, &ObjectKey)],
    ) -> Result<HashMap<ObjectKey, Arc<Value>>, ClusterError>;

    /// The live copies a sync round judges against: those of `owned` objects
    /// (the inventory's, as [`Destination::live`] finds them) and of `new`
    /// ones as far as a cheap read finds them. On a cluster a new object is
    /// looked for only in the per-kind LIST of objects carrying Flotilla's
    /// managed-by label (no GET each): one that exists unlabelled is absent
    /// from the answer (applying it adds the label, so it is configured).
    /// The default reads both as [`Destination::live`] does.
    async fn live_of_round(
        &mut self,
        owned: &[(&str, &ObjectKey)],
        new: &[(&str, &ObjectKey)],
    ) -> Result<HashMap<ObjectKey, Arc<Value>>, ClusterError> {
        let all: Vec<(&str, &ObjectKey)> = owned.iter().chain(new).copied().collect();
        self.live(&all).await
    }

    /// Applies one object (server-side apply where there is a server).
    /// `live` is its live copy from [`Destination::live`], if it had one.
    async fn apply(
        &mut self,
        object: &Value,
        live: Option<&Value>,
        options: ApplyOptions,
    ) -> Result<Applied, ClusterError>;

    /// Applies objects of one stage, which do not depend on each other, in
    /// whatever order and as concurrently as the destination likes; the
    /// results come back in the order given. The default applies one after
    /// the other.
    async fn apply_many(
        &mut self,
        objects: &[(&Value, Option<&Value>)],
        options: ApplyOptions,
    ) -> Vec<Result<Applied, ClusterError>> {
        let mut out = Vec::with_capacity(objects.len());
        for (object, live) in objects {
            out.push(self.apply(object, *live, options).await);
        }
        out
    }

    /// What the object would look like if applied (a server-side dry run),
    /// without storing anything; `None` for destinations without a server.
    async fn dry_run_apply(&mut self, object: &Value) -> Result<Option<Value>, ClusterError>;

    /// Waits until a CustomResourceDefinition is Established and its kinds
    /// can be used, for at most `timeout`.
    async fn wait_established(
        &mut self,
        crd: &Value,
        timeout: Duration,
    ) -> Result<(), ClusterError>;

    /// Deletes one object; `Ok(false)` when it was already gone.
    async fn delete(&mut self, entry: &InventoryEntry, dry_run: bool)
    -> Result<bool, ClusterError>;

    /// The inventory of `fleet`'s cluster `cluster` on this destination, if one
    /// was written.
    async fn read_inventory(
        &mut self,
        fleet: &str,
        cluster: &str,
    ) -> Result<Option<Inventory>, ClusterError>;

    /// Stores the fleet's inventory on this cluster.
    async fn write_inventory(&mut self, inventory: &Inventory) -> Result<(), ClusterError>;

    /// Makes the writes that follow (apply, dry-run apply, delete) as
    /// `user` (Kubernetes impersonation: `Impersonate-User`), or as
    /// Flotilla's own identity with `None`. Reads, discovery and the
    /// inventory always use Flotilla's own identity. Destinations without
    /// a server ignore it, the default.
    fn act_as(&mut self, user: Option<&str>) -> Result<(), ClusterError> {
        let _ = user;
        Ok(())
    }

    /// The mass-prune guard's record of the last rounds that pruned
    /// `fleet`'s cluster `cluster`, kept beside the inventory (empty when
    /// none was written).
    async fn read_prune_window(
        &mut self,
        fleet: &str,
        cluster: &str,
    ) -> Result<PruneWindow, ClusterError>;

    /// Stores the prune window record of `fleet`'s cluster `cluster`.
    async fn write_prune_window(
        &mut self,
        fleet: &str,
        cluster: &str,
        window: &PruneWindow,
    ) -> Result<(), ClusterError>;

    /// Whether controllers act on what is written here (a Kubernetes
    /// cluster), so health is worth reading; a folder has none.
    fn runs_workloads(&self) -> bool {
        true
    }

    /// The merge structure of the kinds of `api_versions` as this
    /// destination merges them: a cluster's OpenAPI v3 documents over the
    /// built-in table, cached per connection; the built-in table alone where
    /// there is no server (directories), the default. Never fails: what
    /// cannot be read falls back to the table.
    async fn schema(&mut self, api_versions: &[&str]) -> Arc<Schema> {
        let _ = api_versions;
        builtin_schema()
    }

    /// The live controllers `reads` names (e.g. the HorizontalPodAutoscalers
    /// of some namespaces), whoever made them, labelled or not: their
    /// targets' controlled fields are theirs
    /// ([`flotilla_core::diff::controlled`]). A kind the destination does not
    /// serve, or is not allowed to read, has none. Destinations where no
    /// controller runs (directories) have none, the default.
    async fn controllers(
        &mut self,
        reads: &[ControllerRead],
    ) -> Result<Vec<Arc<Value>>, ClusterError> {
        let _ = reads;
        Ok(Vec::new())
    }

    /// Whether this destination serves `kind` in `api_version` (a cluster
    /// without the kind's CRD does not); destinations without a server
    /// serve every kind, the default.
    async fn serves(&mut self, api_version: &str, kind: &str) -> Result<bool, ClusterError> {
        let _ = (api_version, kind);
        Ok(true)
    }

    /// The objects whose content changed since the last call (watch
    /// events: an object applied, changed or deleted, by anyone, Flotilla
    /// included), as far as the destination tracks them; a destination
    /// without watches does not, the default ([`Changes::Unknown`]).
    fn take_changes(&mut self) -> Changes {
        Changes::Unknown
    }

    /// Forgets what live state the destination caches, so the next reads
    /// come from the source and what differs counts as changed (a full
    /// drift pass: it finds changes whose watch events were lost). Nothing
    /// to do without a cache, the default.
    fn refresh(&mut self) {}

    /// The objects written since the last call, as the server answered each
    /// write (a server-side apply answers the object as stored), by the key
    /// of the object sent: a sync judges health on them without reading
    /// live state again ([`crate::reconcile::reconcile_round`]). Dry runs
    /// and writes without [`ApplyOptions::keep_written`] leave none. A
    /// destination that does not keep answers has none, the default.
    fn take_written(&mut self) -> HashMap<ObjectKey, Arc<Value>> {
        HashMap::new()
    }

    /// Notified when a change is recorded (see [`Destination::take_changes`]);
    /// `None` for destinations that do not track changes, the default.
    fn changes_notifier(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// The latest Kubernetes events of one object, newest first, at most
    /// `limit` (federated status: why an object is not healthy).
    /// Destinations without a server have none, the default.
    async fn events(
        &mut self,
        key: &ObjectKey,
        limit: usize,
    ) -> Result<Vec<flotilla_core::agent::ObjectEvent>, ClusterError> {
        let _ = (key, limit);
        Ok(Vec::new())
    }
}

/// The built-in schema table, shared.
pub fn builtin_schema() -> Arc<Schema> {
    static TABLE: std::sync::OnceLock<Arc<Schema>> = std::sync::OnceLock::new();
    TABLE
        .get_or_init(|| Arc::new(flotilla_core::diff::schema::builtin().clone()))
        .clone()
}
