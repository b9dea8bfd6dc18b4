package controllers

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// WorkQueueFinalizer holds a PrefectWorkQueue until the queue it created is
// deleted from the server (deletionPolicy Delete).
const WorkQueueFinalizer = "prefectgo.dev/work-queue"

// defaultQueue is the name of the queue a pool is made with, which the
// server never deletes while the pool stands.
const defaultQueue = "default"

// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectworkqueues,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectworkqueues/status,verbs=get;patch
// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectworkqueues/finalizers,verbs=update

// PrefectWorkQueueReconciler keeps a work queue on its server as the spec says.
type PrefectWorkQueueReconciler struct {
	WorkPlane
}

// Reconcile syncs the queue, then writes the status.
func (r *PrefectWorkQueueReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	q := &v1alpha1.PrefectWorkQueue{}
	if err := r.Get(ctx, req.NamespacedName, q); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !q.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, q, queueRemoval(q))
	}
	if err := r.addFinalizer(ctx, q, WorkQueueFinalizer); err != nil {
		return ctrl.Result{}, err
	}
	before := q.DeepCopy()
	cond, have, retry := r.syncQueue(ctx, q)
	err := r.writeStatus(ctx, q, before, "SyncQueue", cond, pollReady(cond, have.Status, have.IsPaused))
	return r.result(cond, retry, err)
}

// QueueName is the queue's name in its pool: spec.name, or the resource's.
func QueueName(q *v1alpha1.PrefectWorkQueue) string {
	if q.Spec.Name != "" {
		return q.Spec.Name
	}
	return q.Name
}

// queueWrite is what the spec sets of the queue.
func queueWrite(q *v1alpha1.PrefectWorkQueue) prefectapi.WorkQueueWrite {
	w := prefectapi.WorkQueueWrite{Name: QueueName(q), IsPaused: q.Spec.Paused,
		ConcurrencyLimit: q.Spec.ConcurrencyLimit, Priority: q.Spec.Priority}
	if q.Spec.Description != "" {
		w.Description = &q.Spec.Description
	}
	return w
}

// queueDrift names the fields of the queue on the server that differ from
// what the spec sets; a priority the spec leaves unset is the server's.
func queueDrift(have prefectapi.WorkQueue, want prefectapi.WorkQueueWrite) []string {
	var out []string
	if have.IsPaused != want.IsPaused {
		out = append(out, "paused")
	}
	if !equalPtr(have.ConcurrencyLimit, want.ConcurrencyLimit) {
		out = append(out, "concurrencyLimit")
	}
	if !equalPtr(emptyNil(have.Description), want.Description) {
		out = append(out, "description")
	}
	if want.Priority != nil && have.Priority != *want.Priority {
		out = append(out, "priority")
	}
	return out
}

// syncQueue adopts or creates the queue and corrects what differs from the
// spec. It answers the Synced condition, the queue as the server has it,
// and whether to try again with backoff. The status records whether this
// resource created the queue: only then may removing it delete the queue.
func (r *PrefectWorkQueueReconciler) syncQueue(ctx context.Context, q *v1alpha1.PrefectWorkQueue) (metav1.Condition, prefectapi.WorkQueue, bool) {
	conn, cond, ok := r.connect(ctx, q.Namespace, q.Spec.Server)
	if !ok {
		return cond, prefectapi.WorkQueue{}, false
	}
	pool, want := q.Spec.WorkPool, queueWrite(q)
	have, err := conn.api.ReadWorkQueue(ctx, pool, want.Name)
	created := false
	switch {
	case prefectapi.IsNotFound(err):
		if have, err = conn.api.CreateWorkQueue(ctx, pool, want); err != nil {
			err = workPoolMissing(pool, err)
		} else {
			created = true
		}
	case err == nil:
		if drift := queueDrift(have, want); len(drift) > 0 {
			if err = conn.api.UpdateWorkQueue(ctx, pool, want.Name, want); err == nil {
				r.recordWrite(q, "SyncQueue", "work queue "+pool+"/"+want.Name, drift)
				have, err = conn.api.ReadWorkQueue(ctx, pool, want.Name)
			}
		}
	}
	if err != nil {
		cond, retry := apiFailure(err, conn.URL)
		return cond, prefectapi.WorkQueue{}, retry
	}
	st := &q.Status
	switch {
	case created:
		st.Created = true
	case have.ID != st.QueueID:
		// Found, not made: adopted. A queue that replaced the one this
		// resource made is someone else's too.
		st.Created = false
	}
	st.QueueID, st.QueueName = have.ID, have.Name
	verb := "adopted"
	if st.Created {
		verb = "created"
	}
	return synced("work queue %s/%s (%s, %s) on %s matches the spec", pool, have.Name, have.ID, verb, conn.URL), have, false
}

// queueRemoval deletes the queue from the server when the policy is Delete
// and this resource created it, unless it is the pool's default queue. The
// queue deleted is the one recorded: one of the same name made since is
// left alone.
func queueRemoval(q *v1alpha1.PrefectWorkQueue) removal {
	rm := removal{finalizer: WorkQueueFinalizer, server: q.Spec.Server, action: "DeleteQueue"}
	name := QueueName(q)
	if q.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan || !q.Status.Created || q.Status.QueueID == "" || name == defaultQueue {
		return rm
	}
	rm.remove = func(ctx context.Context, api *prefectapi.Client) error {
		have, err := api.ReadWorkQueue(ctx, q.Spec.WorkPool, name)
		switch {
		case prefectapi.IsNotFound(err):
			return nil // gone, or its pool is
		case err != nil:
			return err
		case have.ID != q.Status.QueueID:
			return nil
		}
		err = api.DeleteWorkQueue(ctx, q.Spec.WorkPool, name)
		if prefectapi.IsInvalid(err) {
			// The server will not delete it (it became the pool's default
			// queue): nothing left to do but let the resource go.
			return nil
		}
		return err
	}
	return rm
}

// SetupWithManager registers the reconciler.
func (r *PrefectWorkQueueReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return r.setupWithManager(mgr, r)
}

// setupWithManager registers rec (the reconciler, or a test's wrapper of it).
func (r *PrefectWorkQueueReconciler) setupWithManager(mgr ctrl.Manager, rec reconcile.Reconciler) error {
	newList := func() client.ObjectList { return &v1alpha1.PrefectWorkQueueList{} }
	b := ctrl.NewControllerManagedBy(mgr).
		Named("prefectworkqueue").
		WithOptions(workPlaneOptions()).
		For(&v1alpha1.PrefectWorkQueue{}, specChanged)
	// A queue may wait on its pool: a PrefectWorkPool changing (its pool
	// made) has the queues of its namespace look again.
	b = r.watchPools(b, newList)
	return r.watchInputs(b, newList).Complete(rec)
}
