//! Ownership marks: how Flotilla marks what it owns on a cluster, and the
//! field manager of its writes. One home for these names, read by render
//! (which stamps them), the engine (which selects and writes by them) and
//! the drift judgement (which reads managedFields by them).

/// The field manager of every Flotilla write (server-side apply).
pub const FIELD_MANAGER: &str = "flotilla";

/// The label every rendered object carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "flotilla";
/// Annotation naming the fleet an object belongs to.
pub const FLEET_ANNOTATION: &str = "flotilla.dev/fleet";
/// Annotation naming what placed the object: `base/<name>`,
/// `overlay/<name>` or `cluster/<name>`.
pub const SOURCE_ANNOTATION: &str = "flotilla.dev/source";
