package controllers

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

func (b *testBundle) createPool(t *testing.T, name string, mutate func(*v1alpha1.PrefectWorkPool)) *v1alpha1.PrefectWorkPool {
	t.Helper()
	wp := &v1alpha1.PrefectWorkPool{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns}}
	if mutate != nil {
		mutate(wp)
	}
	require.NoError(t, b.c.Create(b.ctx, wp))
	return wp
}

func (b *testBundle) pool(t *testing.T, name string) *v1alpha1.PrefectWorkPool {
	t.Helper()
	wp := &v1alpha1.PrefectWorkPool{}
	require.NoError(t, b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: name}, wp))
	return wp
}

func (b *testBundle) waitForPoolCondition(t *testing.T, name, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.PrefectWorkPool {
	t.Helper()
	return waitForCondition(t, b, &v1alpha1.PrefectWorkPool{}, name, typ, status, reason)
}

func TestWorkPoolLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	url := prefectServer(t, "")
	api := prefectapi.New(url, "")
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "jobs-"}}
	require.NoError(t, b.c.Create(b.ctx, other))

	template := `{"job_configuration":{"command":"{{ command }}"},"variables":{"type":"object","properties":{"command":{"type":"string"}}}}`
	wp := b.createPool(t, "k8s", func(wp *v1alpha1.PrefectWorkPool) {
		wp.Spec.Server.URL = url
		wp.Spec.Name = "k8s-pool"
		wp.Spec.Description = "flows as Jobs"
		wp.Spec.ConcurrencyLimit = new(int32(4))
		wp.Spec.BaseJobTemplate = &apiextensionsv1.JSON{Raw: []byte(template)}
		wp.Spec.Workers.JobNamespaces = []string{b.ns, other.Name}
	})

	// The pool is made on the server as the spec says.
	got := b.waitForPoolCondition(t, wp.Name, v1alpha1.ConditionSynced, metav1.ConditionTrue, ReasonSynced)
	require.Equal(t, "k8s-pool", got.Status.PoolName)
	pool, err := api.ReadWorkPool(b.ctx, "k8s-pool")
	require.NoError(t, err)
	require.Equal(t, got.Status.PoolID, pool.ID)
	require.Equal(t, "kubernetes", pool.Type)
	require.Equal(t, "flows as Jobs", *pool.Description)
	require.EqualValues(t, 4, *pool.ConcurrencyLimit)
	require.JSONEq(t, template, string(pool.BaseJobTemplate))

	// Its workers: a non-root Deployment, their ServiceAccount, and RBAC in
	// each namespace they run Jobs in.
	dep := b.waitFor(t, builders.WorkerName(wp), &appsv1.Deployment{}).(*appsv1.Deployment)
	c := dep.Spec.Template.Spec.Containers[0]
	require.Equal(t, []string{"prefect", "worker", "start", "--pool", "k8s-pool", "--type", "kubernetes", "--with-healthcheck"}, c.Command)
	require.Equal(t, "prefecthq/prefect:3.9.1-python3.12-kubernetes", c.Image)
	require.Contains(t, c.Env, corev1.EnvVar{Name: "PREFECT_API_URL", Value: url})
	// The worker's observer watches only where its Roles are.
	require.Contains(t, c.Env, corev1.EnvVar{Name: "PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES",
		Value: strings.Join(slices.Sorted(slices.Values([]string{b.ns, other.Name})), ",")})
	require.True(t, *dep.Spec.Template.Spec.SecurityContext.RunAsNonRoot)
	require.Equal(t, builders.WorkerName(wp), dep.Spec.Template.Spec.ServiceAccountName)
	b.waitFor(t, builders.WorkerName(wp), &corev1.ServiceAccount{})
	for _, ns := range []string{b.ns, other.Name} {
		role := &rbacv1.Role{}
		require.Eventually(t, func() bool {
			return b.c.Get(b.ctx, client.ObjectKey{Namespace: ns, Name: builders.WorkerName(wp)}, role) == nil
		}, wait, tick, ns)
		require.Equal(t, builders.WorkerRules(), role.Rules)
		rb := &rbacv1.RoleBinding{}
		require.NoError(t, b.c.Get(b.ctx, client.ObjectKey{Namespace: ns, Name: builders.WorkerName(wp)}, rb))
		require.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: builders.WorkerName(wp), Namespace: b.ns}}, rb.Subjects)
		// The flow runs' own ServiceAccount: no token, and no binding names it.
		sa := &corev1.ServiceAccount{}
		require.NoError(t, b.c.Get(b.ctx, client.ObjectKey{Namespace: ns, Name: "k8s-flow-run"}, sa))
		require.False(t, *sa.AutomountServiceAccountToken)
	}

	// An edit changes the pool in place.
	require.NoError(t, update(b, &v1alpha1.PrefectWorkPool{}, wp.Name, func(wp *v1alpha1.PrefectWorkPool) {
		wp.Spec.ConcurrencyLimit = nil
		wp.Spec.Paused = true
		wp.Spec.Workers.JobNamespaces = []string{b.ns}
	}))
	require.Eventually(t, func() bool {
		p, err := api.ReadWorkPool(b.ctx, "k8s-pool")
		return err == nil && p.IsPaused && p.ConcurrencyLimit == nil && p.ID == pool.ID
	}, wait, tick)
	require.Eventually(t, func() bool {
		err := b.c.Get(b.ctx, client.ObjectKey{Namespace: other.Name, Name: builders.WorkerName(wp)}, &rbacv1.Role{})
		return apierrors.IsNotFound(err)
	}, wait, tick, "the Role in a namespace no longer listed")
	require.Eventually(t, func() bool {
		err := b.c.Get(b.ctx, client.ObjectKey{Namespace: other.Name, Name: "k8s-flow-run"}, &corev1.ServiceAccount{})
		return apierrors.IsNotFound(err)
	}, wait, tick, "the flow-run ServiceAccount in a namespace no longer listed")

	// A change made on the server (the UI, the CLI) is set back.
	require.NoError(t, api.UpdateWorkPool(b.ctx, "k8s-pool", prefectapi.WorkPoolWrite{IsPaused: false, ConcurrencyLimit: new(int32(1))}))
	require.Eventually(t, func() bool {
		p, err := api.ReadWorkPool(b.ctx, "k8s-pool")
		return err == nil && p.IsPaused && p.ConcurrencyLimit == nil
	}, wait, tick, "drift corrected")

	// Deleted (policy Delete): the pool goes from the server, then the resource.
	require.NoError(t, b.c.Delete(b.ctx, b.pool(t, wp.Name)))
	require.Eventually(t, func() bool {
		_, err := api.ReadWorkPool(b.ctx, "k8s-pool")
		return prefectapi.IsNotFound(err)
	}, wait, tick)
	b.waitForAbsent(t, wp.Name, &v1alpha1.PrefectWorkPool{})
}

func TestWorkPoolOrphanAndProcess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	url := prefectServer(t, "")
	api := prefectapi.New(url, "")
	wp := b.createPool(t, "proc", func(wp *v1alpha1.PrefectWorkPool) {
		wp.Spec.Server.URL = url
		wp.Spec.Type = "process"
		wp.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		wp.Spec.Workers.Replicas = new(int32(0))
	})
	got := b.waitForPoolCondition(t, wp.Name, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoWorkers)
	require.Equal(t, "proc", got.Status.PoolName)
	dep := b.waitFor(t, builders.WorkerName(wp), &appsv1.Deployment{}).(*appsv1.Deployment)
	require.Equal(t, "prefecthq/prefect:3.9.1-python3.12", dep.Spec.Template.Spec.Containers[0].Image)
	require.False(t, *dep.Spec.Template.Spec.AutomountServiceAccountToken, "a process worker never calls the Kubernetes API")
	var roles rbacv1.RoleList
	require.NoError(t, b.c.List(b.ctx, &roles, client.InNamespace(b.ns)))
	require.Empty(t, roles.Items, "no RBAC for a process pool")

	require.NoError(t, b.c.Delete(b.ctx, b.pool(t, wp.Name)))
	b.waitForAbsent(t, wp.Name, &v1alpha1.PrefectWorkPool{})
	_, err := api.ReadWorkPool(b.ctx, "proc")
	require.NoError(t, err, "an orphaned pool stays on the server")
}

func TestWorkPoolServerTrouble(t *testing.T) {
	t.Parallel()
	b := setup(t)
	url := prefectServer(t, "admin:right")
	require.NoError(t, b.c.Create(b.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: b.ns},
		Data: map[string][]byte{"auth": []byte("admin:wrong")}}))
	ref := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "auth"}, Key: "auth"}

	// Wrong credentials are reported, and the retry backs off.
	wp := b.createPool(t, "locked", func(wp *v1alpha1.PrefectWorkPool) {
		wp.Spec.Server = v1alpha1.ServerReference{URL: url, AuthSecretRef: ref}
	})
	got := b.waitForPoolCondition(t, wp.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonUnauthorized)
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionSynced).Message, "refused the credentials")
	require.NotContains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionSynced).Message, "wrong", "no secret in the status")

	// Corrected, it syncs: the workers get the Secret by reference.
	secret := &corev1.Secret{}
	require.NoError(t, b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: "auth"}, secret))
	secret.Data["auth"] = []byte("admin:right")
	require.NoError(t, b.c.Update(b.ctx, secret))
	b.waitForPoolCondition(t, wp.Name, v1alpha1.ConditionSynced, metav1.ConditionTrue, ReasonSynced)
	dep := b.waitFor(t, builders.WorkerName(wp), &appsv1.Deployment{}).(*appsv1.Deployment)
	require.True(t, slices.ContainsFunc(dep.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool {
		return e.Name == "PREFECT_API_AUTH_STRING" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name == "auth"
	}))

	// A server that does not answer is a condition, not a hot loop.
	down := b.createPool(t, "down", func(wp *v1alpha1.PrefectWorkPool) { wp.Spec.Server.URL = "http://127.0.0.1:1/api" })
	b.waitForPoolCondition(t, down.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonServerUnavailable)
	// No worker for a pool not made yet: it would make the pool itself, with its own template.
	err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: builders.WorkerName(down)}, &appsv1.Deployment{})
	require.True(t, apierrors.IsNotFound(err), "a worker Deployment for an unsynced pool: %v", err)
	// A PrefectServer that does not exist, likewise.
	missing := b.createPool(t, "missing", func(wp *v1alpha1.PrefectWorkPool) { wp.Spec.Server.Name = "nope" })
	b.waitForPoolCondition(t, missing.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonServerNotFound)
	// Deleting them is not held by the server being unreachable when no pool was ever made.
	require.NoError(t, b.c.Delete(b.ctx, b.pool(t, down.Name)))
	require.NoError(t, b.c.Delete(b.ctx, b.pool(t, missing.Name)))
	b.waitForAbsent(t, down.Name, &v1alpha1.PrefectWorkPool{})
	b.waitForAbsent(t, missing.Name, &v1alpha1.PrefectWorkPool{})
}
