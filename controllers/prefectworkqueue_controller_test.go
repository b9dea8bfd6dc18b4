package controllers

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

func (b *testBundle) createQueue(t *testing.T, name string, mutate func(*v1alpha1.PrefectWorkQueue)) *v1alpha1.PrefectWorkQueue {
	t.Helper()
	q := &v1alpha1.PrefectWorkQueue{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns}}
	mutate(q)
	require.NoError(t, b.c.Create(b.ctx, q))
	return q
}

func (b *testBundle) deleteAndWait(t *testing.T, obj client.Object) {
	t.Helper()
	require.NoError(t, b.c.Delete(b.ctx, obj))
	b.waitForAbsent(t, obj.GetName(), obj)
}

func TestWorkQueueLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, "")
	api := srv.api()
	_, err := api.CreateWorkPool(b.ctx, prefectapi.WorkPoolWrite{Name: "pool", Type: "process"})
	require.NoError(t, err)

	q := b.createQueue(t, "fast", func(q *v1alpha1.PrefectWorkQueue) {
		q.Spec.Server.URL = srv.url
		q.Spec.WorkPool = "pool"
		q.Spec.Name = "fast-lane"
		q.Spec.Description = "short flows"
		q.Spec.ConcurrencyLimit = new(int32(3))
	})

	// Made on the server as the spec says, and recorded as made here.
	got := waitForSynced(t, b, &v1alpha1.PrefectWorkQueue{}, q.Name)
	have, err := api.ReadWorkQueue(b.ctx, "pool", "fast-lane")
	require.NoError(t, err)
	require.Equal(t, have.ID, got.Status.QueueID)
	require.Equal(t, "fast-lane", got.Status.QueueName)
	require.True(t, got.Status.Created)
	require.Equal(t, "short flows", *have.Description)
	require.EqualValues(t, 3, *have.ConcurrencyLimit)
	require.False(t, have.IsPaused)
	require.EqualValues(t, 2, have.Priority, "unset: after the pool's default queue")
	// No worker polls it: the server says NOT_READY.
	ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	require.Equal(t, ReasonNotPolled, ready.Reason)

	// An edit changes it in place.
	require.NoError(t, update(b, &v1alpha1.PrefectWorkQueue{}, q.Name, func(q *v1alpha1.PrefectWorkQueue) {
		q.Spec.ConcurrencyLimit = nil
		q.Spec.Paused = true
		q.Spec.Priority = new(int32(7))
		q.Spec.Description = ""
	}))
	require.Eventually(t, func() bool {
		h, err := api.ReadWorkQueue(b.ctx, "pool", "fast-lane")
		return err == nil && h.ID == have.ID && h.IsPaused && h.ConcurrencyLimit == nil && h.Priority == 7 && deref(h.Description, "") == ""
	}, wait, tick)
	got = waitForCondition(t, b, &v1alpha1.PrefectWorkQueue{}, q.Name, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonPaused)

	// A change made on the server is set back.
	require.NoError(t, api.UpdateWorkQueue(b.ctx, "pool", "fast-lane",
		prefectapi.WorkQueueWrite{IsPaused: false, ConcurrencyLimit: new(int32(1)), Priority: new(int32(9))}))
	require.Eventually(t, func() bool {
		h, err := api.ReadWorkQueue(b.ctx, "pool", "fast-lane")
		return err == nil && h.IsPaused && h.ConcurrencyLimit == nil && h.Priority == 7
	}, wait, tick, "drift corrected")
	require.Eventually(t, func() bool {
		var evs corev1.EventList
		require.NoError(t, b.c.List(b.ctx, &evs, client.InNamespace(b.ns)))
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == q.Name && e.Reason == "DriftCorrected" {
				return true
			}
		}
		return false
	}, wait, tick, "an Event says the queue was set back")

	// Deleted with policy Delete: the queue it made goes.
	b.deleteAndWait(t, got)
	_, err = api.ReadWorkQueue(b.ctx, "pool", "fast-lane")
	require.True(t, prefectapi.IsNotFound(err), "the queue it created is deleted: %v", err)
}

func TestWorkQueueAdoptAndKeep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, "")
	api := srv.api()
	_, err := api.CreateWorkPool(b.ctx, prefectapi.WorkPoolWrite{Name: "pool", Type: "process"})
	require.NoError(t, err)
	existing, err := api.CreateWorkQueue(b.ctx, "pool", prefectapi.WorkQueueWrite{Name: "existing"})
	require.NoError(t, err)
	def, err := api.ReadWorkQueue(b.ctx, "pool", "default")
	require.NoError(t, err)

	// A queue that was there is adopted: set to the spec, not recorded as made.
	adopted := b.createQueue(t, "existing", func(q *v1alpha1.PrefectWorkQueue) {
		q.Spec.Server.URL, q.Spec.WorkPool = srv.url, "pool"
		q.Spec.ConcurrencyLimit = new(int32(2))
	})
	got := waitForSynced(t, b, &v1alpha1.PrefectWorkQueue{}, adopted.Name)
	require.Equal(t, existing.ID, got.Status.QueueID)
	require.False(t, got.Status.Created)
	require.Eventually(t, func() bool {
		h, err := api.ReadWorkQueue(b.ctx, "pool", "existing")
		return err == nil && h.ConcurrencyLimit != nil && *h.ConcurrencyLimit == 2
	}, wait, tick)

	// The pool's default queue likewise.
	dq := b.createQueue(t, "pool-default", func(q *v1alpha1.PrefectWorkQueue) {
		q.Spec.Server.URL, q.Spec.WorkPool, q.Spec.Name = srv.url, "pool", "default"
		q.Spec.Description = "where unrouted runs go"
	})
	got = waitForSynced(t, b, &v1alpha1.PrefectWorkQueue{}, dq.Name)
	require.Equal(t, def.ID, got.Status.QueueID)
	require.False(t, got.Status.Created)

	// One made here with policy Orphan.
	orphan := b.createQueue(t, "kept", func(q *v1alpha1.PrefectWorkQueue) {
		q.Spec.Server.URL, q.Spec.WorkPool = srv.url, "pool"
		q.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
	})
	got = waitForSynced(t, b, &v1alpha1.PrefectWorkQueue{}, orphan.Name)
	require.True(t, got.Status.Created)

	// Removing the resources (policy Delete for the first two) leaves all
	// three: adopted, the default, orphaned.
	b.deleteAndWait(t, adopted)
	b.deleteAndWait(t, dq)
	b.deleteAndWait(t, orphan)
	for _, name := range []string{"existing", "default", "kept"} {
		_, err := api.ReadWorkQueue(b.ctx, "pool", name)
		require.NoError(t, err, "queue %s stays", name)
	}
}

func TestWorkQueueWaitsForItsPoolAndServer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, "")
	api := srv.api()

	// No such pool yet: reported, then found when a PrefectWorkPool makes it.
	q := b.createQueue(t, "later", func(q *v1alpha1.PrefectWorkQueue) {
		q.Spec.Server.URL, q.Spec.WorkPool = srv.url, "late-pool"
	})
	waitForCondition(t, b, &v1alpha1.PrefectWorkQueue{}, q.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonWorkPoolNotFound)
	b.createPool(t, "late", func(wp *v1alpha1.PrefectWorkPool) {
		wp.Spec.Server.URL, wp.Spec.Name, wp.Spec.Type = srv.url, "late-pool", "process"
		wp.Spec.Workers.Replicas = new(int32(0))
	})
	got := waitForSynced(t, b, &v1alpha1.PrefectWorkQueue{}, q.Name)
	have, err := api.ReadWorkQueue(b.ctx, "late-pool", "later")
	require.NoError(t, err)
	require.Equal(t, have.ID, got.Status.QueueID)

	// The server goes down: reported with its reason, and the deletion
	// waits for it, since the queue it made must go.
	srv.stop()
	waitForCondition(t, b, &v1alpha1.PrefectWorkQueue{}, q.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonServerUnavailable)
	got = waitForCondition(t, b, &v1alpha1.PrefectWorkQueue{}, q.Name, v1alpha1.ConditionReady, metav1.ConditionUnknown, ReasonNotSynced)
	require.NoError(t, b.c.Delete(b.ctx, got))
	require.Eventually(t, func() bool {
		held := &v1alpha1.PrefectWorkQueue{}
		require.NoError(t, b.c.Get(b.ctx, client.ObjectKeyFromObject(q), held), "held while the server is down")
		c := meta.FindStatusCondition(held.Status.Conditions, v1alpha1.ConditionSynced)
		return c.Reason == ReasonServerUnavailable && strings.HasPrefix(c.Message, "deleting it from the server")
	}, wait, tick)

	// Back up: the queue is deleted and the resource goes.
	srv.start()
	b.waitForAbsent(t, q.Name, &v1alpha1.PrefectWorkQueue{})
	_, err = api.ReadWorkQueue(b.ctx, "late-pool", "later")
	require.True(t, prefectapi.IsNotFound(err), "%v", err)
}
