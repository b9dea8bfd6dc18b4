package builders

import (
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// The workers of a PrefectWorkPool.
const (
	// PrefectVersion is the prefect release the worker images default to,
	// the one this server speaks for.
	PrefectVersion = "3.9.1"
	// WorkerTypeKubernetes runs flow runs as Kubernetes Jobs.
	WorkerTypeKubernetes = "kubernetes"
	// WorkerContainerName names the worker container.
	WorkerContainerName = "prefect-worker"
	// workerHealthPort is where `prefect worker start --with-healthcheck` answers /health.
	workerHealthPort = 8080
	workerHome       = "/home/prefect"
	defaultWorkers   = 1
)

// PoolName is the work pool's name on the server: spec.name, or the resource's.
func PoolName(wp *v1alpha1.PrefectWorkPool) string {
	if wp.Spec.Name != "" {
		return wp.Spec.Name
	}
	return wp.Name
}

// PoolType is the pool's worker type (the CRD defaults it to kubernetes).
func PoolType(wp *v1alpha1.PrefectWorkPool) string {
	if wp.Spec.Type != "" {
		return wp.Spec.Type
	}
	return WorkerTypeKubernetes
}

// WorkerName names the workers' Deployment, ServiceAccount, Role and RoleBindings.
func WorkerName(wp *v1alpha1.PrefectWorkPool) string { return wp.Name + "-worker" }

// WorkerSelectorLabels select the worker pods; never change them (a
// Deployment's selector is immutable).
func WorkerSelectorLabels(wp *v1alpha1.PrefectWorkPool) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "prefect-worker",
		"app.kubernetes.io/instance":  wp.Name,
		"app.kubernetes.io/component": "worker",
	}
}

// WorkerLabels are the labels of every object made for the workers.
func WorkerLabels(wp *v1alpha1.PrefectWorkPool) map[string]string {
	l := WorkerSelectorLabels(wp)
	l["app.kubernetes.io/managed-by"] = "prefectgo-operator"
	l["app.kubernetes.io/part-of"] = "prefect"
	return l
}

// WorkerImage is spec.workers.image or Prefect's official image of the
// pinned version, with the Kubernetes integration for kubernetes pools.
func WorkerImage(wp *v1alpha1.PrefectWorkPool) string {
	if wp.Spec.Workers.Image != "" {
		return wp.Spec.Workers.Image
	}
	if PoolType(wp) == WorkerTypeKubernetes {
		return "prefecthq/prefect:" + PrefectVersion + "-python3.12-kubernetes"
	}
	return "prefecthq/prefect:" + PrefectVersion + "-python3.12"
}

// JobNamespaces are where a kubernetes pool's workers run flow-run Jobs.
func JobNamespaces(wp *v1alpha1.PrefectWorkPool) []string {
	if len(wp.Spec.Workers.JobNamespaces) > 0 {
		return slices.Compact(slices.Sorted(slices.Values(wp.Spec.Workers.JobNamespaces)))
	}
	return []string{wp.Namespace}
}

// WorkerServiceAccount is the identity of the worker pods.
func WorkerServiceAccount(wp *v1alpha1.PrefectWorkPool) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: WorkerName(wp), Namespace: wp.Namespace, Labels: WorkerLabels(wp)},
	}
}

// FlowRunServiceAccountName is the ServiceAccount a kubernetes pool's
// flow-run pods run as: spec.workers.flowRunServiceAccountName, or the one
// the operator makes (ManagedFlowRunServiceAccountName).
func FlowRunServiceAccountName(wp *v1alpha1.PrefectWorkPool) string {
	if n := wp.Spec.Workers.FlowRunServiceAccountName; n != "" {
		return n
	}
	return ManagedFlowRunServiceAccountName(wp)
}

// ManagedFlowRunServiceAccountName names the flow-run ServiceAccount the
// operator makes when the spec names none.
func ManagedFlowRunServiceAccountName(wp *v1alpha1.PrefectWorkPool) string {
	return wp.Name + "-flow-run"
}

// ManagesFlowRunServiceAccount says the operator makes the flow-run
// ServiceAccount: a kubernetes pool whose spec names none.
func ManagesFlowRunServiceAccount(wp *v1alpha1.PrefectWorkPool) bool {
	return PoolType(wp) == WorkerTypeKubernetes && wp.Spec.Workers.FlowRunServiceAccountName == ""
}

// FlowRunServiceAccount is the identity of flow-run pods in namespace ns:
// bound to nothing, and its token not mounted, so flow code cannot reach
// the Kubernetes API with it.
func FlowRunServiceAccount(wp *v1alpha1.PrefectWorkPool, ns string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   metav1.ObjectMeta{Name: ManagedFlowRunServiceAccountName(wp), Namespace: ns, Labels: WorkerLabels(wp)},
		AutomountServiceAccountToken: new(false),
	}
}

// WorkerRules are what a Kubernetes worker does in a namespace it runs
// flow runs in: make, watch and delete their Jobs, and follow their pods
// and logs. Nothing else: no Secrets, no cluster-wide access.
func WorkerRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "pods/status"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
	}
}

// WorkerRole grants WorkerRules in namespace ns.
func WorkerRole(wp *v1alpha1.PrefectWorkPool, ns string) *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Name: WorkerName(wp), Namespace: ns, Labels: WorkerLabels(wp)},
		Rules:      WorkerRules(),
	}
}

// WorkerRoleBinding binds WorkerRole in ns to the workers' ServiceAccount.
func WorkerRoleBinding(wp *v1alpha1.PrefectWorkPool, ns string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: WorkerName(wp), Namespace: ns, Labels: WorkerLabels(wp)},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: WorkerName(wp)},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: WorkerName(wp), Namespace: wp.Namespace}},
	}
}

// WorkerServer is how the workers reach their server: its API URL and,
// when it requires basic auth, the Secret key holding "user:password".
type WorkerServer struct {
	URL  string
	Auth *corev1.SecretKeySelector
}

// WorkerDeployment runs `prefect worker start` for the pool, non-root, its
// health check probed, with HOME and /tmp on scratch space so the root
// filesystem stays read-only.
func WorkerDeployment(wp *v1alpha1.PrefectWorkPool, srv WorkerServer) *appsv1.Deployment {
	w := wp.Spec.Workers
	env := []corev1.EnvVar{
		{Name: "HOME", Value: workerHome},
		{Name: "PREFECT_HOME", Value: workerHome + "/.prefect"},
		{Name: "PREFECT_API_URL", Value: srv.URL},
		{Name: "PREFECT_WORKER_WEBSERVER_PORT", Value: "8080"},
	}
	if PoolType(wp) == WorkerTypeKubernetes {
		// The worker's observer, which marks a run Crashed when its Job fails,
		// watches cluster-wide unless told the namespaces: its Roles are there.
		env = append(env, corev1.EnvVar{Name: "PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES",
			Value: strings.Join(JobNamespaces(wp), ",")})
	}
	if srv.Auth != nil {
		env = append(env, corev1.EnvVar{Name: "PREFECT_API_AUTH_STRING",
			ValueFrom: &corev1.EnvVarSource{SecretKeyRef: srv.Auth.DeepCopy()}})
	}
	for _, e := range w.ExtraEnv {
		env = append(env, *e.DeepCopy())
	}
	scratch := func(sub, path string) corev1.VolumeMount {
		return corev1.VolumeMount{Name: scratchVolume, MountPath: path, SubPath: sub}
	}
	c := corev1.Container{
		Name:            WorkerContainerName,
		Image:           WorkerImage(wp),
		ImagePullPolicy: w.ImagePullPolicy,
		Command: []string{"prefect", "worker", "start", "--pool", PoolName(wp), "--type", PoolType(wp),
			"--with-healthcheck"},
		WorkingDir:   workerHome,
		Env:          env,
		Resources:    *w.Resources.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{scratch("home", workerHome), scratch("tmp", "/tmp")},
		Ports:        []corev1.ContainerPort{{Name: "health", ContainerPort: workerHealthPort, Protocol: corev1.ProtocolTCP}},
		LivenessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromString("health")}},
			// The worker installs nothing and starts in seconds, but a cold
			// Python import is slow on a small node.
			InitialDelaySeconds: 30, PeriodSeconds: 20, TimeoutSeconds: 5, FailureThreshold: 3,
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: new(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			ReadOnlyRootFilesystem:   new(true),
		},
	}
	pod := corev1.PodSpec{
		Containers:         []corev1.Container{c},
		ServiceAccountName: WorkerName(wp),
		EnableServiceLinks: new(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   new(true),
			RunAsUser:      new(NonRootID),
			RunAsGroup:     new(NonRootID),
			FSGroup:        new(NonRootID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		NodeSelector:     maps.Clone(w.NodeSelector),
		ImagePullSecrets: slices.Clone(w.ImagePullSecrets),
		Affinity:         w.Affinity.DeepCopy(),
		Volumes: []corev1.Volume{{Name: scratchVolume,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}
	for _, t := range w.Tolerations {
		pod.Tolerations = append(pod.Tolerations, *t.DeepCopy())
	}
	if PoolType(wp) != WorkerTypeKubernetes {
		// Only a Kubernetes worker calls the Kubernetes API.
		pod.AutomountServiceAccountToken = new(false)
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: WorkerName(wp), Namespace: wp.Namespace, Labels: WorkerLabels(wp)},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(orDefault(w.Replicas, defaultWorkers)),
			Selector: &metav1.LabelSelector{MatchLabels: WorkerSelectorLabels(wp)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: WorkerLabels(wp)},
				Spec:       pod,
			},
		},
	}
}
