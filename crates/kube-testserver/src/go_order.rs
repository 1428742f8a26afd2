//! Output key order of built-in kinds: the real server encodes typed Go
//! structs, so fields come in Go struct field order (maps, which Go's JSON
//! encoder sorts, come sorted). The OpenAPI documents list properties
//! alphabetically, so the struct order is kept here by hand, from the
//! `k8s.io/api` / `apiextensions` / `apimachinery` v1.32 types, for the types
//! this server serves. Fields of a type not listed here keep the order they
//! were written in.

/// `(type name, fields in Go order)`; a leading `core.` etc. abbreviates the
/// OpenAPI package prefix (see [`expand`]).
pub(crate) const GO_ORDER: &[(&str, &str)] = &[
    // meta
    (
        "meta.ObjectMeta",
        "name generateName namespace selfLink uid resourceVersion generation creationTimestamp deletionTimestamp deletionGracePeriodSeconds labels annotations ownerReferences finalizers managedFields",
    ),
    (
        "meta.ManagedFieldsEntry",
        "manager operation apiVersion time fieldsType fieldsV1 subresource",
    ),
    (
        "meta.OwnerReference",
        "apiVersion kind name uid controller blockOwnerDeletion",
    ),
    ("meta.LabelSelector", "matchLabels matchExpressions"),
    ("meta.LabelSelectorRequirement", "key operator values"),
    (
        "meta.Condition",
        "type status observedGeneration lastTransitionTime reason message",
    ),
    // coordination
    ("coord.Lease", "kind apiVersion metadata spec"),
    (
        "coord.LeaseSpec",
        "holderIdentity leaseDurationSeconds acquireTime renewTime leaseTransitions strategy preferredHolder",
    ),
    // core
    (
        "core.ConfigMap",
        "kind apiVersion metadata immutable data binaryData",
    ),
    (
        "core.Secret",
        "kind apiVersion metadata immutable data stringData type",
    ),
    ("core.Namespace", "kind apiVersion metadata spec status"),
    ("core.NamespaceSpec", "finalizers"),
    ("core.NamespaceStatus", "phase conditions"),
    (
        "core.NamespaceCondition",
        "type status lastTransitionTime reason message",
    ),
    ("core.Service", "kind apiVersion metadata spec status"),
    (
        "core.ServiceSpec",
        "ports selector clusterIP clusterIPs type externalIPs sessionAffinity loadBalancerIP loadBalancerSourceRanges externalName externalTrafficPolicy healthCheckNodePort publishNotReadyAddresses sessionAffinityConfig ipFamilies ipFamilyPolicy allocateLoadBalancerNodePorts loadBalancerClass internalTrafficPolicy trafficDistribution",
    ),
    (
        "core.ServicePort",
        "name protocol appProtocol port targetPort nodePort",
    ),
    ("core.ServiceStatus", "loadBalancer conditions"),
    ("core.SessionAffinityConfig", "clientIP"),
    ("core.ClientIPConfig", "timeoutSeconds"),
    (
        "core.ServiceAccount",
        "kind apiVersion metadata secrets imagePullSecrets automountServiceAccountToken",
    ),
    ("core.LimitRange", "kind apiVersion metadata spec"),
    ("core.LimitRangeSpec", "limits"),
    (
        "core.LimitRangeItem",
        "type max min default defaultRequest maxLimitRequestRatio",
    ),
    (
        "core.PersistentVolumeClaim",
        "kind apiVersion metadata spec status",
    ),
    (
        "core.PersistentVolumeClaimSpec",
        "accessModes selector resources volumeName storageClassName volumeMode dataSource dataSourceRef volumeAttributesClassName",
    ),
    (
        "core.PersistentVolumeClaimStatus",
        "phase accessModes capacity conditions allocatedResources allocatedResourceStatuses currentVolumeAttributesClassName modifyVolumeStatus",
    ),
    ("core.PersistentVolumeClaimTemplate", "metadata spec"),
    ("core.VolumeResourceRequirements", "limits requests"),
    ("core.ResourceRequirements", "limits requests claims"),
    ("core.Pod", "kind apiVersion metadata spec status"),
    ("core.PodTemplateSpec", "metadata spec"),
    (
        "core.PodSpec",
        "volumes initContainers containers ephemeralContainers restartPolicy terminationGracePeriodSeconds activeDeadlineSeconds dnsPolicy nodeSelector serviceAccountName serviceAccount automountServiceAccountToken nodeName hostNetwork hostPID hostIPC shareProcessNamespace securityContext imagePullSecrets hostname subdomain affinity schedulerName tolerations hostAliases priorityClassName priority dnsConfig readinessGates runtimeClassName enableServiceLinks preemptionPolicy overhead topologySpreadConstraints setHostnameAsFQDN os hostUsers schedulingGates resourceClaims resources",
    ),
    (
        "core.Container",
        "name image command args workingDir ports envFrom env resources resizePolicy restartPolicy volumeMounts volumeDevices livenessProbe readinessProbe startupProbe lifecycle terminationMessagePath terminationMessagePolicy imagePullPolicy securityContext stdin stdinOnce tty",
    ),
    (
        "core.ContainerPort",
        "name hostPort containerPort protocol hostIP",
    ),
    ("core.EnvVar", "name value valueFrom"),
    (
        "core.EnvVarSource",
        "fieldRef resourceFieldRef configMapKeyRef secretKeyRef",
    ),
    ("core.ObjectFieldSelector", "apiVersion fieldPath"),
    (
        "core.ResourceFieldSelector",
        "containerName resource divisor",
    ),
    ("core.ConfigMapKeySelector", "name key optional"),
    ("core.SecretKeySelector", "name key optional"),
    ("core.EnvFromSource", "prefix configMapRef secretRef"),
    ("core.ConfigMapEnvSource", "name optional"),
    ("core.SecretEnvSource", "name optional"),
    (
        "core.VolumeMount",
        "name readOnly recursiveReadOnly mountPath subPath mountPropagation subPathExpr",
    ),
    (
        "core.Probe",
        "exec httpGet tcpSocket grpc initialDelaySeconds timeoutSeconds periodSeconds successThreshold failureThreshold terminationGracePeriodSeconds",
    ),
    ("core.HTTPGetAction", "path port host scheme httpHeaders"),
    ("core.HTTPHeader", "name value"),
    ("core.TCPSocketAction", "port host"),
    ("core.ExecAction", "command"),
    ("core.GRPCAction", "port service"),
    (
        "core.Volume",
        "name hostPath emptyDir gcePersistentDisk awsElasticBlockStore gitRepo secret nfs iscsi glusterfs persistentVolumeClaim rbd flexVolume cinder cephfs flocker downwardAPI fc azureFile configMap vsphereVolume quobyte azureDisk photonPersistentDisk projected portworxVolume scaleIO storageos csi ephemeral image",
    ),
    (
        "core.ConfigMapVolumeSource",
        "name items defaultMode optional",
    ),
    (
        "core.SecretVolumeSource",
        "secretName items defaultMode optional",
    ),
    ("core.KeyToPath", "key path mode"),
    ("core.EmptyDirVolumeSource", "medium sizeLimit"),
    ("core.HostPathVolumeSource", "path type"),
    (
        "core.PersistentVolumeClaimVolumeSource",
        "claimName readOnly",
    ),
    ("core.ProjectedVolumeSource", "sources defaultMode"),
    (
        "core.VolumeProjection",
        "secret downwardAPI configMap serviceAccountToken clusterTrustBundle",
    ),
    (
        "core.ServiceAccountTokenProjection",
        "audience expirationSeconds path",
    ),
    ("core.LocalObjectReference", "name"),
    (
        "core.Toleration",
        "key operator value effect tolerationSeconds",
    ),
    (
        "core.PodSecurityContext",
        "seLinuxOptions windowsOptions runAsUser runAsGroup runAsNonRoot supplementalGroups supplementalGroupsPolicy fsGroup sysctls fsGroupChangePolicy seccompProfile appArmorProfile seLinuxChangePolicy",
    ),
    (
        "core.SecurityContext",
        "capabilities privileged seLinuxOptions windowsOptions runAsUser runAsGroup runAsNonRoot readOnlyRootFilesystem allowPrivilegeEscalation procMount seccompProfile appArmorProfile",
    ),
    ("core.Capabilities", "add drop"),
    (
        "core.TopologySpreadConstraint",
        "maxSkew topologyKey whenUnsatisfiable labelSelector minDomains nodeAffinityPolicy nodeTaintsPolicy matchLabelKeys",
    ),
    ("core.LoadBalancerStatus", "ingress"),
    // apps
    ("apps.Deployment", "kind apiVersion metadata spec status"),
    (
        "apps.DeploymentSpec",
        "replicas selector template strategy minReadySeconds revisionHistoryLimit paused progressDeadlineSeconds",
    ),
    ("apps.DeploymentStrategy", "type rollingUpdate"),
    ("apps.RollingUpdateDeployment", "maxUnavailable maxSurge"),
    (
        "apps.DeploymentStatus",
        "observedGeneration replicas updatedReplicas readyReplicas availableReplicas unavailableReplicas terminatingReplicas conditions collisionCount",
    ),
    (
        "apps.DeploymentCondition",
        "type status lastUpdateTime lastTransitionTime reason message",
    ),
    ("apps.StatefulSet", "kind apiVersion metadata spec status"),
    (
        "apps.StatefulSetSpec",
        "replicas selector template volumeClaimTemplates serviceName podManagementPolicy updateStrategy revisionHistoryLimit minReadySeconds persistentVolumeClaimRetentionPolicy ordinals",
    ),
    ("apps.StatefulSetUpdateStrategy", "type rollingUpdate"),
    (
        "apps.RollingUpdateStatefulSetStrategy",
        "partition maxUnavailable",
    ),
    (
        "apps.StatefulSetPersistentVolumeClaimRetentionPolicy",
        "whenDeleted whenScaled",
    ),
    (
        "apps.StatefulSetStatus",
        "observedGeneration replicas readyReplicas currentReplicas updatedReplicas currentRevision updateRevision collisionCount conditions availableReplicas",
    ),
    ("apps.DaemonSet", "kind apiVersion metadata spec status"),
    (
        "apps.DaemonSetSpec",
        "selector template updateStrategy minReadySeconds revisionHistoryLimit",
    ),
    ("apps.DaemonSetUpdateStrategy", "type rollingUpdate"),
    ("apps.RollingUpdateDaemonSet", "maxUnavailable maxSurge"),
    // batch
    ("batch.Job", "kind apiVersion metadata spec status"),
    (
        "batch.JobSpec",
        "parallelism completions activeDeadlineSeconds podFailurePolicy successPolicy backoffLimit backoffLimitPerIndex maxFailedIndexes selector manualSelector template ttlSecondsAfterFinished completionMode suspend podReplacementPolicy managedBy",
    ),
    // autoscaling
    ("as1.Scale", "kind apiVersion metadata spec status"),
    ("as1.ScaleSpec", "replicas"),
    ("as1.ScaleStatus", "replicas selector"),
    (
        "as2.HorizontalPodAutoscaler",
        "kind apiVersion metadata spec status",
    ),
    (
        "as2.HorizontalPodAutoscalerSpec",
        "scaleTargetRef minReplicas maxReplicas metrics behavior",
    ),
    ("as2.CrossVersionObjectReference", "kind name apiVersion"),
    (
        "as2.MetricSpec",
        "type object pods resource containerResource external",
    ),
    ("as2.ResourceMetricSource", "name target"),
    (
        "as2.MetricTarget",
        "type value averageValue averageUtilization",
    ),
    ("as2.HorizontalPodAutoscalerBehavior", "scaleUp scaleDown"),
    (
        "as2.HPAScalingRules",
        "stabilizationWindowSeconds selectPolicy policies",
    ),
    ("as2.HPAScalingPolicy", "type value periodSeconds"),
    // networking, policy, rbac, storage
    (
        "net.NetworkPolicySpec",
        "podSelector ingress egress policyTypes",
    ),
    (
        "net.IngressSpec",
        "ingressClassName defaultBackend tls rules",
    ),
    (
        "policy.PodDisruptionBudgetSpec",
        "minAvailable selector maxUnavailable unhealthyPodEvictionPolicy",
    ),
    (
        "rbac.PolicyRule",
        "verbs apiGroups resources resourceNames nonResourceURLs",
    ),
    ("rbac.Role", "kind apiVersion metadata rules"),
    (
        "rbac.ClusterRole",
        "kind apiVersion metadata rules aggregationRule",
    ),
    (
        "rbac.RoleBinding",
        "kind apiVersion metadata subjects roleRef",
    ),
    (
        "rbac.ClusterRoleBinding",
        "kind apiVersion metadata subjects roleRef",
    ),
    ("rbac.Subject", "kind apiGroup name namespace"),
    ("rbac.RoleRef", "apiGroup kind name"),
    (
        "storage.StorageClass",
        "kind apiVersion metadata provisioner parameters reclaimPolicy mountOptions allowVolumeExpansion volumeBindingMode allowedTopologies",
    ),
    // apiextensions
    (
        "ext.CustomResourceDefinition",
        "kind apiVersion metadata spec status",
    ),
    (
        "ext.CustomResourceDefinitionSpec",
        "group names scope versions conversion preserveUnknownFields",
    ),
    (
        "ext.CustomResourceDefinitionNames",
        "plural singular shortNames kind listKind categories",
    ),
    (
        "ext.CustomResourceDefinitionVersion",
        "name served storage deprecated deprecationWarning schema subresources additionalPrinterColumns selectableFields",
    ),
    ("ext.CustomResourceValidation", "openAPIV3Schema"),
    ("ext.CustomResourceSubresources", "status scale"),
    (
        "ext.CustomResourceSubresourceScale",
        "specReplicasPath statusReplicasPath labelSelectorPath",
    ),
    ("ext.CustomResourceConversion", "strategy webhook"),
    (
        "ext.CustomResourceDefinitionStatus",
        "conditions acceptedNames storedVersions",
    ),
    (
        "ext.CustomResourceDefinitionCondition",
        "type status lastTransitionTime reason message",
    ),
    (
        "ext.CustomResourceColumnDefinition",
        "name type format description priority jsonPath",
    ),
    (
        "ext.JSONSchemaProps",
        "id $schema $ref description type format title default maximum exclusiveMaximum minimum exclusiveMinimum maxLength minLength pattern maxItems minItems uniqueItems multipleOf enum maxProperties minProperties required items allOf oneOf anyOf not properties additionalProperties patternProperties dependencies additionalItems definitions externalDocs example nullable x-kubernetes-preserve-unknown-fields x-kubernetes-embedded-resource x-kubernetes-int-or-string x-kubernetes-list-map-keys x-kubernetes-list-type x-kubernetes-map-type x-kubernetes-validations",
    ),
    (
        "ext.ValidationRule",
        "rule message messageExpression reason fieldPath optionalOldSelf",
    ),
];

/// The full OpenAPI type name of an abbreviated one.
pub(crate) fn expand(short: &str) -> String {
    let (pkg, name) = short.split_once('.').unwrap_or(("", short));
    let prefix = match pkg {
        "meta" => "io.k8s.apimachinery.pkg.apis.meta.v1",
        "core" => "io.k8s.api.core.v1",
        "apps" => "io.k8s.api.apps.v1",
        "batch" => "io.k8s.api.batch.v1",
        "as1" => "io.k8s.api.autoscaling.v1",
        "as2" => "io.k8s.api.autoscaling.v2",
        "net" => "io.k8s.api.networking.v1",
        "policy" => "io.k8s.api.policy.v1",
        "coord" => "io.k8s.api.coordination.v1",
        "rbac" => "io.k8s.api.rbac.v1",
        "storage" => "io.k8s.api.storage.v1",
        "ext" => "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1",
        other => other,
    };
    format!("{prefix}.{name}")
}
