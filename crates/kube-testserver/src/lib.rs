//! A test Kubernetes API server for Flotilla's tests.
//!
//! [`TestApiServer::start`] listens on `127.0.0.1:<random port>` (plain
//! HTTP/1.1) and speaks enough of the Kubernetes API, following the API
//! conventions and the real server's messages, for the real `kube` client
//! (typed `Api<K>`, `Api<DynamicObject>`, `Discovery`, `kube_runtime::watcher`)
//! to drive it. Make a client with
//! `kube::Client::try_from(kube::Config::new(server.url().parse()?))`, or load
//! [`TestApiServer::kubeconfig_yaml`] with `Kubeconfig::from_yaml` +
//! `Config::from_custom_kubeconfig`.
//!
//! # What it models
//!
//! **Discovery.** `/version` (reports [`KUBERNETES_VERSION`]), `/api`
//! (`APIVersions`), `/api/v1` and `/apis/{group}/{version}`
//! (`APIResourceList` with `namespaced`, `kind`, `verbs`, `singularName`,
//! `shortNames`, `categories`, and `…/status` subresource entries), `/apis`
//! (`APIGroupList`, versions in Kubernetes priority order, preferred first),
//! `/apis/{group}` (`APIGroup`), aggregated discovery (`apidiscovery.k8s.io/v2`
//! `APIGroupDiscoveryList`) on `/api` and `/apis` when `Accept` asks for it
//! first, and `/healthz` `/readyz` `/livez`. Built in at start: v1 Namespace,
//! ConfigMap, Secret, Event, LimitRange, Service, ServiceAccount,
//! PersistentVolumeClaim, Pod;
//! apps/v1 Deployment, StatefulSet, DaemonSet; batch/v1 Job; autoscaling/v2
//! HorizontalPodAutoscaler; networking.k8s.io/v1 NetworkPolicy, Ingress;
//! policy/v1 PodDisruptionBudget; coordination.k8s.io/v1 Lease (namespaced,
//! no `generation`; `acquireTime`/`renewTime` kept as sent, to the
//! microsecond; a PUT with a stale `resourceVersion` is a 409 `Conflict`
//! and a POST of an existing one a 409 `AlreadyExists`, which is all leader
//! election needs); rbac.authorization.k8s.io/v1 ClusterRole,
//! ClusterRoleBinding, Role, RoleBinding; storage.k8s.io/v1 StorageClass;
//! apiextensions.k8s.io/v1 CustomResourceDefinition. Nothing else (no
//! gateway.networking.k8s.io: it comes as CRDs). Tests can serve more with
//! [`TestApiServer::register_kind`]. Namespaces `default`, `kube-system`,
//! `kube-public`, `kube-node-lease` exist at start.
//!
//! **CustomResourceDefinitions.** A created/updated CRD (validated: name is
//! `plural.group`, scope, exactly one storage version, schemas present) gets
//! the status the apiextensions controllers write (`NamesAccepted`,
//! `Established`, `acceptedNames`, `storedVersions`, as an `Update` by
//! `kube-apiserver` on `status`) and its served versions are registered
//! (scope, plural, singular, kind, short names, categories, status
//! subresource per version). The create response is the CRD as stored
//! before those controllers run (zero status: `conditions: null`, empty
//! `acceptedNames`, `storedVersions`); they run right after it. With
//! [`TestApiServer::set_crd_establish_delay`]
//! it is first `NamesAccepted` with `Established=False` (`Installing`) and
//! only established and served after the delay. A plural or kind already
//! served in the group gives `NamesAccepted=False`. Deleting the CRD deletes
//! its custom resources and stops serving its kinds. Versions share one
//! store (conversion strategy `None`: only `apiVersion` changes). Custom
//! resources are pruned (unknown fields dropped unless
//! `x-kubernetes-preserve-unknown-fields`) and defaulted from the version's
//! structural schema (`default`s, also inside list items and inside an
//! object that is itself defaulted), and typed by it for field management.
//!
//! **CRUD** for every served kind, namespaced and cluster-scoped: GET; LIST
//! with `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`, `>`,
//! `<`), `fieldSelector` (`metadata.name`, `metadata.namespace` for all
//! kinds, plus Secret `type`, Pod `spec.nodeName`/`status.phase`/…, Namespace
//! `status.phase`, Job `status.successful`, Event `involvedObject.kind`/
//! `.name`/`.namespace`/`.uid`/…, `reason`, `type`, `source`,
//! `reportingComponent`; others are rejected with 400 as the real server
//! does, for Event with "field label not supported: X"), `limit`/`continue` (opaque token,
//! `remainingItemCount`), `resourceVersion` + `resourceVersionMatch`
//! (`0` = any, ignores `limit` like the watch cache; a future version → 504
//! "Too large resource version"; `Exact` other than the current → 410);
//! items of built-in lists carry no `apiVersion`/`kind` (custom resource
//! lists do); POST (201; 409 `AlreadyExists`; `generateName`); PUT (409
//! `Conflict` on a stale `metadata.resourceVersion`; 404 if absent — no
//! create-on-update); PATCH as `application/merge-patch+json`,
//! `application/json-patch+json`, `application/strategic-merge-patch+json`
//! (**treated as a JSON merge patch**: lists are replaced, not merged by
//! patch merge key, and `$patch` directives are not interpreted; refused with
//! 415 for custom resources, like the real server) and
//! `application/apply-patch+yaml` (server-side apply; body JSON or YAML);
//! other content types → 415; DELETE (body `DeleteOptions` honoured for
//! `dryRun` and `preconditions`); DELETE on a collection (deletecollection,
//! with selectors; returns the deleted items). Namespaced writes need the
//! namespace to exist (404 `namespaces "x" not found`) and creates are
//! refused in a namespace being deleted (403, cause `NamespaceTerminating`);
//! `default`, `kube-system`, `kube-public` cannot be deleted (403). `Accept: application/json;as=PartialObjectMetadata[List]`
//! returns metadata-only objects (get, list, watch, writes).
//!
//! **Deletion.** Without finalizers an object is removed at once and the
//! response is the real registry's: the object for Namespace, Pod,
//! ServiceAccount, StorageClass and CRD, a `Status` `Success` otherwise. A
//! Namespace is first `Terminating` (`deletionTimestamp`, `status.phase`,
//! `spec.finalizers: [kubernetes]` kept; the DELETE returns it) and, as the
//! namespace controller does, emptied and removed after
//! [`TestApiServer::set_namespace_finalize_delay`] (default 1.5 s; zero:
//! at once). With
//! `metadata.finalizers` the object gets `deletionTimestamp` (and
//! `deletionGracePeriodSeconds: 0`), is returned, and disappears when an
//! update removes the last finalizer; new finalizers cannot be added then.
//!
//! **Metadata.** `uid`, `resourceVersion` (one global counter, as a string,
//! starting above 1000; every change bumps it by one and emits one watch
//! event), `creationTimestamp`, `generation` (for kinds that have it in the
//! real API: workloads, Job, HPA, PDB, NetworkPolicy, Ingress, Pod, CRD and
//! all custom resources; starts at 1 and is bumped by changes outside
//! `metadata` and, with a status subresource, `status`, and for Deployments
//! also by annotation changes), `managedFields`;
//! `metadata.namespace` from the URL (cleared for cluster-scoped kinds).
//! Client-supplied system fields are ignored, except that a `uid` or
//! `resourceVersion` in a PUT/PATCH body must match (409). A
//! `resourceVersion` on create is a 400. Body/URL mismatches: apiVersion or
//! kind → 400, name → 400, namespace → 400. Output key order is the real
//! server's: built-in kinds in Go struct field order (a table of the types
//! served, `go_order.rs`; fields of a type not in it keep their order) with
//! map keys sorted; custom resources with every key sorted (they are
//! unstructured, as Go's encoder writes maps), `managedFields` entries
//! included.
//!
//! **Field validation** (`fieldValidation`, default `Warn`): fields of a
//! POST, PUT or merge/strategic patch body that the kind's schema does not
//! declare, and duplicate JSON keys, are dropped and reported as `Warning:
//! 299 - "unknown field \"spec.bogus\""` / `"duplicate field \"data\""`
//! headers, refused with the real 400 (`<Kind> in version "v1" cannot be
//! handled as a <Kind>: strict decoding error: …`) under `Strict`, or
//! dropped silently under `Ignore`. Duplicate keys of a YAML apply body
//! (last wins) give `line N: key "k" already set in map` the same way. A
//! server-side apply naming a field not in the schema fails with the real
//! 500 `failed to create typed patch object (…): .spec.bogus: field not
//! declared in schema`, whatever `fieldValidation` says.
//!
//! **Validation** (422 `Invalid` with `details.causes`, or 400 for decode
//! errors): names (DNS subdomain; DNS label for Namespace, DNS-1035 for
//! Service, path segment for RBAC), label keys/values, annotation keys,
//! non-string label/annotation/ConfigMap data values and invalid Secret
//! base64 (400), ConfigMap keys, workload selector presence and
//! selector/template-label agreement, workload `replicas` ≥ 0, containers
//! with name and image, Job `restartPolicy`, Service ports (`port` and
//! `targetPort` 1-65535, node ports), RoleBinding `roleRef`; messages
//! render values as Go's `%#v` (`map[string]string{"app":"x"}`,
//! `v1.LabelSelector{…}`); immutable fields
//! (workload `spec.selector`, Job selector/template/completions, StatefulSet
//! spec outside the mutable fields, Service `clusterIP`, immutable
//! ConfigMap/Secret data, Secret `type`, PVC spec, `roleRef`, CRD `scope`).
//!
//! **Defaulting** as `kubectl get -o yaml` shows it right after a create from
//! a minimal manifest (ported from the real `defaults.go` files and registry
//! strategies; custom resources from their CRD schema, above): Namespace
//! `spec.finalizers`/`status.phase` and the `kubernetes.io/metadata.name`
//! label; Secret `type` (and `stringData` folded into `data`); Service
//! type/sessionAffinity (`ClientIP` gets `sessionAffinityConfig`)/ports
//! (protocol, targetPort = port), `externalTrafficPolicy: Cluster` for
//! NodePort/LoadBalancer, `internalTrafficPolicy`,
//! `allocateLoadBalancerNodePorts: true`, cluster IP allocation
//! (`10.96.x.y`), node port allocation (30000-32767, one per port number,
//! deterministic, unique across Services; a taken or out-of-range one is a
//! 422) and `healthCheckNodePort` for LoadBalancer/`Local`; allocated values
//! are kept when an update or apply omits them (`patchAllocatedValues`:
//! node ports by port name) and released when the type no longer needs
//! them (`dropTypeDependentFields`); PVC `volumeMode`/`status.phase`;
//! Deployment replicas/strategy (25%/25%)/revisionHistoryLimit/
//! progressDeadlineSeconds; StatefulSet replicas/podManagementPolicy/
//! updateStrategy (`partition: 0` only when the type was defaulted)/
//! revisionHistoryLimit/persistentVolumeClaimRetentionPolicy and claim
//! templates (`apiVersion`, `kind`, `volumeMode`, `status.phase: Pending`);
//! (a zero StatefulSet status reads `{replicas: 0, availableReplicas: 0}`);
//! DaemonSet strategy/revisionHistoryLimit; Job completions/parallelism
//! (both 1 only when both are unset), backoffLimit, completionMode, suspend,
//! podReplacementPolicy, `manualSelector: false`, and on create the
//! generated selector (`batch.kubernetes.io/controller-uid: <uid>`) with the
//! `controller-uid`/`job-name` template labels (and their
//! `batch.kubernetes.io/` forms), copied to the Job's labels when it has
//! none; LimitRange quantities; HPA (autoscaling/v2)
//! `minReplicas: 1`, the cpu 80% metric when none is given, and the
//! scale-up/scale-down rules filled into a `behavior` that is present (none
//! is added otherwise); pod templates: restartPolicy (`Always`, so a Job
//! without one is refused, as on the real server), dnsPolicy, schedulerName,
//! terminationGracePeriodSeconds, securityContext, container
//! imagePullPolicy/terminationMessagePath/terminationMessagePolicy/
//! `resources: {}`/port protocol, probe timings and `httpGet` path/scheme,
//! `fieldRef.apiVersion`, `resourceFieldRef.divisor: "0"`, volume
//! `defaultMode: 420`, `emptyDir: {}` for a volume without source,
//! `hostPath.type: ""`, token `expirationSeconds: 3600`; Pods also get
//! `enableServiceLinks`, requests from limits and host ports under
//! `hostNetwork`; NetworkPolicy `policyTypes`; StorageClass reclaim/binding
//! mode; CRD conversion and names. Defaults are not owned by an applier, as
//! on the real server.
//!
//! **Normalisation** of built-ins, as the typed Go round trip does: `null`
//! fields are dropped; resource quantities (container requests/limits, PVC
//! resources, `emptyDir.sizeLimit`, divisors, HPA targets) are stored in
//! `resource.Quantity` canonical form (`0.5` → `500m`, `1024Mi` → `1Gi`,
//! `1` → `"1"`, `1e3` stays `1e3`; requests/limits rounded up to milli) and
//! an unparseable one is a 400; embedded object metadata (pod templates,
//! claim templates) carries `creationTimestamp: null`, as Kubernetes
//! 1.29–1.33 serialise it (the recorded v1.32.13 traces show it; this
//! server reports v1.33.0; 1.34 omits it); nobody owns that `null` in
//! managedFields.
//!
//! **Field management.** `managedFields` entries with `manager`,
//! `operation` (`Apply`/`Update`), `apiVersion`, `time`, `fieldsType:
//! FieldsV1`, `fieldsV1` in the real `f:`/`k:`/`v:`/`.` encoding and
//! `subresource`, sorted like the real server (operation, `time` in whole
//! seconds with no time as 0, manager, apiVersion, subresource). Fields are
//! typed by schema as structured-merge-diff types them: built-in kinds by a
//! table generated from the real v1.32.13 OpenAPI v3 documents
//! (`builtin_schema.json`, made by `tools/gen_schema_table.py`), custom
//! resources by their CRD schema. Atomic maps and structs
//! (`x-kubernetes-map-type: atomic`: Service `spec.selector`, every
//! `LabelSelector`) are owned, compared, conflicted on and replaced whole
//! (`f:selector: {}`); lists are atomic, sets or maps by the schema's
//! `x-kubernetes-list-type`/`-map-keys` or patch merge key (`f:steps: {}`
//! for an atomic list; `k:{"port":80,"protocol":"TCP"}`, the defaulted
//! `protocol` included); a non-pointer struct (OpenAPI `default: {}`) is not
//! itself owned; a main-resource write does not own `.status` of a kind with
//! a status subresource; fields the registry sets on create after field
//! management (Namespace `spec.finalizers`, the Job's generated selector
//! and labels) are owned by nobody. Non-apply writes (POST, PUT,
//! merge/JSON/strategic patch) are recorded as `Update` by `fieldManager`
//! (default: the User-Agent up to the first `/`; kube sends no User-Agent,
//! which gives an entry without `manager`, as on the real server): fields
//! they add or change become theirs and leave other managers; removed fields
//! leave every manager. A non-apply write whose body carries non-empty,
//! decodable `managedFields` starts from those instead of the stored ones
//! (how the real server lets clients rewrite ownership); otherwise the
//! stored entries are kept.
//!
//! **Server-side apply** (`?fieldManager=` required, 422 otherwise; `force`
//! only for apply, 422 otherwise): creates if absent (201); merges the
//! configuration (objects by field, associative lists by key, sets by value,
//! other lists replaced); a field another manager owns that the apply would
//! change is a 409 `Conflict` whose message is the real one (`Apply failed
//! with 1 conflict: conflict with "m" using apps/v1: .spec.replicas`) and
//! whose `details.causes` list each field (`reason: FieldManagerConflict`,
//! `field: .spec.replicas`); with `force=true` ownership moves instead;
//! applying the same value as another manager shares ownership; fields the
//! manager applied before and omits now are removed unless another manager
//! owns them; an apply that changes neither the object nor ownership is a
//! no-op (no resourceVersion bump, no event, `time` kept), and one that
//! changes no field value (after defaulting and quantity normalisation)
//! does not set or refresh its entry's `time` (a new entry then has none).
//! One recorded quirk is reproduced: a Job created by server-side apply
//! gets one resourceVersion bump on the next identical write. A
//! `resourceVersion` in the configuration is a precondition;
//! `managedFields` in it is a 400.
//!
//! Kinds without a schema (registered with [`TestApiServer::register_kind`]
//! and no CRD) are typed by shape instead: objects are structs, lists are
//! associative when their field name is a well-known keyed list
//! (`containers`, `env`, `volumes` by `name`, `ports` by
//! `containerPort`/`port` + `protocol`, `conditions` by `type`, …) or when
//! every item is an object with a unique string `name`, `finalizers` are a
//! set, other lists are atomic. Merged associative lists and sets are
//! ordered as structured-merge-diff orders them: live-only items keep their
//! place, applied items follow the applied order (a new item with no shared
//! item after it is appended). `null` in an applied configuration removes
//! the field.
//!
//! **Scale subresource** (`/scale` of Deployments, StatefulSets,
//! ReplicaSets): GET returns an `autoscaling/v1` `Scale` (`spec.replicas`,
//! `status.replicas`, `status.selector` as a selector string, the
//! workload's name, namespace, uid, resourceVersion and
//! creationTimestamp); a merge/JSON/strategic PATCH or a PUT of it changes
//! only `spec.replicas` and is recorded as an `Update` with `apiVersion:
//! apps/v1`, `subresource: scale` and no `time` (so a later apply conflicts
//! with `"B" with subresource "scale" using apps/v1`).
//!
//! **OpenAPI.** `/openapi/v3` and `/openapi/v3/<path>` are served verbatim
//! from the OpenAPI v3 documents recorded from a real kube-apiserver
//! v1.32.13, read at request time from `$FLOTILLA_OPENAPI_DIR/openapi-v3`
//! (default `<repo>/../shared/apiserver-traces/openapi`; a 404 and a log
//! warning when absent): core v1, apps/v1, batch/v1, autoscaling/v2,
//! networking.k8s.io/v1, policy/v1, rbac.authorization.k8s.io/v1,
//! storage.k8s.io/v1, apiextensions.k8s.io/v1 and the Gateway API's
//! gateway.networking.k8s.io/v1. The field typing table compiled in
//! (`builtin_schema.json`) was generated from the same documents.
//!
//! **Dry run.** `dryRun=All` (or `"dryRun": ["All"]` in DeleteOptions) on
//! every write: the full pipeline runs (validation, conflicts, defaults) and
//! the would-be result is returned (no `resourceVersion` for a create), but
//! nothing is stored, no resourceVersion is consumed and no event is sent;
//! other values are a 422.
//!
//! **Status subresource** (`/status`: GET, PUT, PATCH incl. apply) for
//! kinds that have it (Namespace, Service, PVC, Pod, workloads, Job, HPA,
//! Ingress, PDB, CRD, and CRD versions declaring `subresources.status`):
//! main-resource writes keep the stored `.status`, status writes change only
//! `.status` (recorded with `subresource: status`). On create, `.status` is
//! dropped (custom resources) or reset to `{}` (built-ins) before defaults.
//! Tests set status directly with [`TestApiServer::set_status`] or
//! [`TestApiServer::mark_rolled_out`].
//!
//! **Watch.** `?watch=true` / `watch=1` on any collection (namespaced or
//! across namespaces) streams newline-delimited `WatchEvent`s: from
//! `resourceVersion` unset or `0`, synthetic `ADDED` for the current objects
//! then changes; from `N`, every change after `N` replayed from a bounded
//! history (default 10 000 events; a compacted `N` gets an `ERROR` event with
//! 410 `Expired`, as the real server does; a future `N` a 504). Label and
//! field selectors apply, and objects entering/leaving the selection arrive
//! as `ADDED`/`DELETED`. `allowWatchBookmarks=true` adds periodic
//! `BOOKMARK`s ([`TestApiServer::set_bookmark_interval`]) and one when the
//! watch ends at `timeoutSeconds` (default 1800). `sendInitialEvents=true`
//! (requires `resourceVersionMatch=NotOlderThan`) sends the current objects
//! then a `BOOKMARK` annotated `k8s.io/initial-events-end`, so
//! `watcher::Config::streaming_lists()` works. Slow watchers are closed.
//!
//! **Errors** are `Status` bodies (`kind: Status`, `apiVersion: v1`,
//! `status: Failure`, `message`, `reason`, `details {name, group, kind,
//! causes, retryAfterSeconds}`, `code`) with the real reasons and codes: 400
//! BadRequest, 403 Forbidden, 404 NotFound, 405 MethodNotAllowed, 409
//! AlreadyExists/Conflict, 410 Expired, 415 UnsupportedMediaType, 422
//! Invalid, 429 TooManyRequests, 500 InternalError, 503 ServiceUnavailable,
//! 504 Timeout.
//!
//! **Counters and request log** ([`TestApiServer::counters`],
//! [`Counters`]): total requests, writes (POST/PUT/PATCH/DELETE that are not
//! dry runs), changes (committed mutations), per verb, per path, faults;
//! resettable. [`TestApiServer::request_log`] lists method, path, query,
//! verb, dry-run flag, response status and fault of each request.
//!
//! **Fault injection** ([`Fault`], [`TestApiServer::inject`]): the next N
//! requests (optionally only a path prefix / verb / method) answered with a
//! `Status` of a given code, delayed, or dropped (connection closed without a
//! response); a delay on every response
//! ([`TestApiServer::set_response_delay`]); a down switch
//! ([`TestApiServer::set_down`]) closing all connections (watches included)
//! and every new one until turned back up. Note that kube 5's default
//! client retries 429/503/504 by itself (up to 15 times, backoff from 5 ms,
//! honouring `Retry-After`, which this server sends with 429 and 504) unless
//! its `Config` has `default_retry = false`.
//!
//! # What it does not model
//!
//! * No authentication or authorization: every request is allowed;
//!   credentials are ignored. No admission webhooks, no API priority and
//!   fairness, no audit.
//! * No controllers: nothing schedules Pods, creates ReplicaSets/Pods for
//!   workloads, runs Jobs, binds PVCs, fills Service endpoints or load
//!   balancers, creates the `default` ServiceAccount or `kube-root-ca.crt`
//!   ConfigMap in namespaces, or garbage-collects by `ownerReferences`
//!   (`propagationPolicy` is ignored). Status changes only through writes to
//!   `/status` or the helpers.
//! * Namespace finalisation is a fixed delay, not a controller: objects
//!   inside are removed even if they carry finalizers, and the `kubernetes`
//!   entry of `spec.finalizers` is not otherwise honoured. CRD deletion is
//!   immediate (no `customresourcecleanup` finalizer).
//! * Custom resources are pruned and defaulted by their CRD schema but not
//!   validated against it (types, `required`, `enum`, formats, CEL rules);
//!   no CRD conversion webhooks. There is no `/openapi/v2`; `/openapi/v3`
//!   serves the recorded documents of the real server, not documents
//!   generated from what this server serves (see **OpenAPI**). Go struct
//!   field order is known only for the types in `go_order.rs`.
//! * Strategic merge patch is a plain JSON merge patch (above).
//! * Only a subset of validation and defaulting (above). Not modelled among
//!   the defaults: what admission plugins add to Pods (`serviceAccountName`,
//!   the `kube-api-access-*` token volume, `priority`, `preemptionPolicy`,
//!   default tolerations), defaults of the deprecated in-tree volume types
//!   (iSCSI, RBD, AzureDisk, ScaleIO). No server-side apply through
//!   `/scale`, and discovery does not list `/scale`; no
//!   `ephemeralcontainers`, `log`, `exec`, `eviction` or other subresources;
//!   no `Table` output, no protobuf, no YAML responses; the deprecated
//!   `/watch/` path prefix is not served.
//! * `resourceVersion` on GET is ignored (the latest object is served); list
//!   pages after the first are read from the current state, not a snapshot
//!   at the first page's resourceVersion.
//! * Graceful deletion (`gracePeriodSeconds`) is not modelled; objects
//!   without finalizers disappear at once.
//! * HTTP/1.1 only, plain text; no TLS, no HTTP/2, no compression.

#![warn(missing_docs)]

mod apply;
mod counters;
mod crd;
mod defaults;
mod discovery;
mod faults;
mod fieldcheck;
mod go_order;
mod handlers;
mod managed_fields;
mod meta;
mod openapi;
mod patch;
mod quantity;
mod rbac;
mod registry;
mod route;
mod scale;
mod schema;
mod selector;
mod server;
mod state;
mod status;
mod store;
mod validation;
mod watch;
mod writes;

pub use counters::{Counters, RequestRecord};
pub use discovery::KUBERNETES_VERSION;
pub use faults::{Fault, FaultAction};
pub use rbac::RbacRule;
pub use registry::ResourceKind;
pub use server::TestApiServer;
pub use status::{ApiError, StatusCause, StatusDetails};
