package controllers

import (
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
)

// TestDisruptionBudgetAndSpread: several replicas get a PodDisruptionBudget
// that follows the replica count and a spread across nodes; one replica has
// neither, and a spread the spec gives replaces the default.
func TestDisruptionBudgetAndSpread(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.c.Create(b.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "pg", Namespace: b.ns},
		Data:       map[string][]byte{"password": []byte("secret")},
	}))
	ps := b.create(t, "prefect", func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Replicas = new(int32(3))
		ps.Spec.Storage = v1alpha1.Storage{Postgres: &v1alpha1.PostgresStorage{
			Host: "postgres", User: "prefect",
			PasswordSecretRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pg"}, Key: "password"},
		}}
	})
	b.completeJob(t, b.waitForMigrationJob(t, ps))

	pdb := b.waitFor(t, builders.PodDisruptionBudgetName(ps), &policyv1.PodDisruptionBudget{}).(*policyv1.PodDisruptionBudget)
	require.Equal(t, intstr.FromInt32(1), *pdb.Spec.MaxUnavailable)
	require.Equal(t, builders.SelectorLabels(ps), pdb.Spec.Selector.MatchLabels)
	require.True(t, metav1.IsControlledBy(pdb, b.server(t, ps.Name)))
	dep := b.waitForDeployment(t, ps, nil)
	spread := dep.Spec.Template.Spec.TopologySpreadConstraints
	require.Len(t, spread, 1)
	require.Equal(t, corev1.LabelHostname, spread[0].TopologyKey)
	require.Equal(t, corev1.ScheduleAnyway, spread[0].WhenUnsatisfiable)
	require.Equal(t, builders.SelectorLabels(ps), spread[0].LabelSelector.MatchLabels)

	// The spec's own spread replaces the default.
	zones := []corev1.TopologySpreadConstraint{{MaxSkew: 2, TopologyKey: corev1.LabelTopologyZone,
		WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: builders.SelectorLabels(ps)}}}
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.TopologySpreadConstraints = zones })
	b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool {
		s := d.Spec.Template.Spec.TopologySpreadConstraints
		return len(s) == 1 && s[0].TopologyKey == corev1.LabelTopologyZone && s[0].MaxSkew == 2
	})

	// Down to one replica: no budget (it would block every drain), no default spread.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Replicas = new(int32(1))
		ps.Spec.TopologySpreadConstraints = nil
	})
	b.waitForAbsent(t, builders.PodDisruptionBudgetName(ps), &policyv1.PodDisruptionBudget{})
	b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool {
		return *d.Spec.Replicas == 1 && d.Spec.Template.Spec.TopologySpreadConstraints == nil
	})
}

// TestSuspend: suspended, the server scales to zero and its CronJobs stop,
// its volume and Service stay, and Ready says why; resumed, it comes back
// as it was.
func TestSuspend(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", nil)
	b.waitFor(t, builders.RetentionCronJobName(ps), &batchv1.CronJob{})
	b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool { return *d.Spec.Replicas == 1 })

	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Suspend = new(true) })
	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonSuspended)
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message, "scaled to zero")
	b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool { return *d.Spec.Replicas == 0 })
	for _, name := range []string{builders.RetentionCronJobName(ps), builders.SchedulerCronJobName(ps)} {
		cj := b.waitFor(t, name, &batchv1.CronJob{}).(*batchv1.CronJob)
		require.Eventually(t, func() bool {
			require.NoError(t, b.c.Get(b.ctx, client.ObjectKeyFromObject(cj), cj))
			return cj.Spec.Suspend != nil && *cj.Spec.Suspend
		}, wait, tick, name)
	}
	b.waitFor(t, builders.PVCName(ps), &corev1.PersistentVolumeClaim{})
	b.waitFor(t, builders.ServiceName(ps), &corev1.Service{})

	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Suspend = new(false) })
	b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool { return *d.Spec.Replicas == 1 })
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoReplicasReady)
	cj := &batchv1.CronJob{}
	require.Eventually(t, func() bool {
		require.NoError(t, b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: builders.RetentionCronJobName(ps)}, cj))
		return cj.Spec.Suspend != nil && !*cj.Spec.Suspend
	}, wait, tick)
}
