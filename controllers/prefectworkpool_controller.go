package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// WorkPoolFinalizer holds a PrefectWorkPool until its pool is deleted from
// the server (deletionPolicy Delete) and its workers' RBAC in other
// namespaces is gone.
const WorkPoolFinalizer = "prefectgo.dev/work-pool"

// The work pools, their workers' objects, and (last two lines) what the
// workers' Role grants, which the operator must hold itself: RBAC grants
// nothing its grantor lacks.
// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectworkpools,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectworkpools/status,verbs=get;patch
// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectworkpools/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=update
// +kubebuilder:rbac:groups="",resources=pods;pods/log;pods/status;events,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch

// PrefectWorkPoolReconciler keeps a work pool on its server as the spec
// says, and runs its workers.
type PrefectWorkPoolReconciler struct {
	WorkPlane
}

// poolPass is what one reconcile of a PrefectWorkPool saw.
type poolPass struct {
	wp     *v1alpha1.PrefectWorkPool
	server serverConn
	pool   prefectapi.WorkPool
	synced metav1.Condition
	dep    *appsv1.Deployment
}

// Reconcile syncs the pool, then the workers, then the status.
func (r *PrefectWorkPoolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	wp := &v1alpha1.PrefectWorkPool{}
	if err := r.Get(ctx, req.NamespacedName, wp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !wp.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, wp, r.removal(wp))
	}
	if err := r.addFinalizer(ctx, wp, WorkPoolFinalizer); err != nil {
		return ctrl.Result{}, err
	}
	before := wp.DeepCopy()
	p := &poolPass{wp: wp}
	retry := r.syncPool(ctx, p)
	var err error
	if p.synced.Status == metav1.ConditionTrue {
		err = r.applyWorkers(ctx, p)
	}
	if statusErr := r.writePoolStatus(ctx, p, before); statusErr != nil && err == nil {
		err = statusErr
	}
	return r.result(p.synced, retry, err)
}

// removal deletes the pool from the server (deletionPolicy Delete, once
// made) and then the workers' RBAC in other namespaces.
func (r *PrefectWorkPoolReconciler) removal(wp *v1alpha1.PrefectWorkPool) removal {
	rm := removal{finalizer: WorkPoolFinalizer, server: wp.Spec.Server, action: "DeletePool",
		then: func(ctx context.Context) error { return r.deleteWorkerRBAC(ctx, wp, nil) }}
	if wp.Spec.DeletionPolicy != v1alpha1.DeletionPolicyOrphan && wp.Status.PoolID != "" {
		rm.remove = func(ctx context.Context, api *prefectapi.Client) error {
			return api.DeleteWorkPool(ctx, builders.PoolName(wp))
		}
	}
	return rm
}

// poolWrite is what the spec sets of the pool, with the base job template
// made from it (nil: the server's stands).
func poolWrite(wp *v1alpha1.PrefectWorkPool, template json.RawMessage) prefectapi.WorkPoolWrite {
	w := prefectapi.WorkPoolWrite{Name: builders.PoolName(wp), Type: builders.PoolType(wp),
		IsPaused: wp.Spec.Paused, ConcurrencyLimit: wp.Spec.ConcurrencyLimit}
	if wp.Spec.Description != "" {
		w.Description = &wp.Spec.Description
	}
	w.BaseJobTemplate = template
	return w
}

// poolDrift names the fields of the pool on the server that differ from
// what the spec sets; a template the spec leaves unset is the server's.
func poolDrift(have prefectapi.WorkPool, want prefectapi.WorkPoolWrite) []string {
	var out []string
	check := func(name string, same bool) {
		if !same {
			out = append(out, name)
		}
	}
	check("paused", have.IsPaused == want.IsPaused)
	check("concurrencyLimit", equalPtr(have.ConcurrencyLimit, want.ConcurrencyLimit))
	check("description", equalPtr(emptyNil(have.Description), want.Description))
	if want.BaseJobTemplate != nil {
		check("baseJobTemplate", jsonEqual(have.BaseJobTemplate, want.BaseJobTemplate, `{}`))
	}
	return out
}

// syncPool creates the pool, or corrects what differs from the spec, and
// says whether to try again with backoff.
func (r *PrefectWorkPoolReconciler) syncPool(ctx context.Context, p *poolPass) (retry bool) {
	var ok bool
	if p.server, p.synced, ok = r.connect(ctx, p.wp.Namespace, p.wp.Spec.Server); !ok {
		return false // watched: a new PrefectServer or Secret brings the next pass
	}
	api := p.server.api
	template, err := r.baseJobTemplate(ctx, p.wp, api)
	var te *templateError
	switch {
	case errors.As(err, &te):
		p.synced = te.cond
		return te.retry
	case err != nil:
		p.synced, retry = apiFailure(err, p.server.URL)
		return retry
	}
	want := poolWrite(p.wp, template)
	have, err := api.ReadWorkPool(ctx, want.Name)
	switch {
	case prefectapi.IsNotFound(err):
		have, err = api.CreateWorkPool(ctx, want)
	case err == nil:
		if drift := poolDrift(have, want); len(drift) > 0 {
			if err = api.UpdateWorkPool(ctx, want.Name, want); err == nil {
				r.recordWrite(p.wp, "SyncPool", "work pool "+want.Name, drift)
				have, err = api.ReadWorkPool(ctx, want.Name)
			}
		}
	}
	if err != nil {
		// A spec the server refuses (say, a base job template) waits for the
		// spec to change; the rest is retried.
		p.synced, retry = apiFailure(err, p.server.URL)
		return retry
	}
	p.pool = have
	p.synced = synced("work pool %s (%s) on %s matches the spec", have.Name, have.ID, p.server.URL)
	return false
}

// applyWorkers applies the workers' ServiceAccount, their RBAC in each job
// namespace (kubernetes pools) and their Deployment, and deletes RBAC left
// in namespaces no longer listed. Only once the pool matches the spec: a
// worker that found no pool would make one with its own default template
// (its Jobs in namespace default, where it may do nothing) and take runs
// with it before the operator set it right. While the server cannot be
// reached, the workers stay as they were.
func (r *PrefectWorkPoolReconciler) applyWorkers(ctx context.Context, p *poolPass) error {
	wp := p.wp
	if err := applyChild(ctx, r.Client, wp, builders.WorkerServiceAccount(wp), owned); err != nil {
		return err
	}
	want := map[string]bool{}
	if builders.PoolType(wp) == builders.WorkerTypeKubernetes {
		for _, ns := range builders.JobNamespaces(wp) {
			// Owner references cannot cross namespaces: RBAC elsewhere is
			// found by its labels and deleted by the finalizer.
			own := ns == wp.Namespace
			if err := applyChild(ctx, r.Client, wp, builders.WorkerRole(wp, ns), ownership(own)); err != nil {
				return err
			}
			if err := applyChild(ctx, r.Client, wp, builders.WorkerRoleBinding(wp, ns), ownership(own)); err != nil {
				return err
			}
			if builders.ManagesFlowRunServiceAccount(wp) {
				if err := applyChild(ctx, r.Client, wp, builders.FlowRunServiceAccount(wp, ns), ownership(own)); err != nil {
					return err
				}
			}
			want[ns] = true
		}
	}
	if err := r.deleteWorkerRBAC(ctx, wp, want); err != nil {
		return err
	}
	dep := builders.WorkerDeployment(wp, p.server.WorkerServer)
	if err := applyChild(ctx, r.Client, wp, dep, owned); err != nil {
		return err
	}
	p.dep = dep
	return nil
}

// deleteWorkerRBAC deletes what the pool made in job namespaces outside
// keep: the workers' Roles and RoleBindings, and its flow-run
// ServiceAccounts, those everywhere once the spec names its own.
func (r *PrefectWorkPoolReconciler) deleteWorkerRBAC(ctx context.Context, wp *v1alpha1.PrefectWorkPool, keep map[string]bool) error {
	managed := builders.ManagesFlowRunServiceAccount(wp)
	kinds := []struct {
		list  client.ObjectList
		name  string
		stays func(ns string) bool
	}{
		{&rbacv1.RoleList{}, builders.WorkerName(wp), func(ns string) bool { return keep[ns] }},
		{&rbacv1.RoleBindingList{}, builders.WorkerName(wp), func(ns string) bool { return keep[ns] }},
		{&corev1.ServiceAccountList{}, builders.ManagedFlowRunServiceAccountName(wp), func(ns string) bool { return keep[ns] && managed }},
	}
	var stale []client.Object
	for _, k := range kinds {
		if err := r.List(ctx, k.list, client.MatchingLabels(builders.WorkerSelectorLabels(wp))); err != nil {
			return fmt.Errorf("list %T: %w", k.list, err)
		}
		err := meta.EachListItem(k.list, func(item runtime.Object) error {
			if o := item.(client.Object); o.GetName() == k.name && !k.stays(o.GetNamespace()) && servesPool(o, wp) {
				stale = append(stale, o)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, o := range stale {
		if err := deleteChild(ctx, r.Client, o); err != nil {
			return err
		}
	}
	return nil
}

// servesPool says the RBAC object is this pool's: in its namespace it is
// owned by it; elsewhere its binding's subject is the pool's ServiceAccount.
func servesPool(o client.Object, wp *v1alpha1.PrefectWorkPool) bool {
	if o.GetNamespace() == wp.Namespace {
		return metav1.IsControlledBy(o, wp)
	}
	return true // named and labelled for the pool, which is unique per namespace+name
}

// writePoolStatus writes what the pass saw, if it changed.
func (r *PrefectWorkPoolReconciler) writePoolStatus(ctx context.Context, p *poolPass, before *v1alpha1.PrefectWorkPool) error {
	wp := p.wp
	st := &wp.Status
	if p.pool.ID != "" {
		st.PoolID, st.PoolName = p.pool.ID, p.pool.Name
	}
	var ready metav1.Condition
	if p.dep != nil {
		dep := &appsv1.Deployment{}
		if err := r.Get(ctx, client.ObjectKeyFromObject(p.dep), dep); err == nil {
			st.ReadyWorkers = dep.Status.ReadyReplicas
		}
		ready = metav1.Condition{Type: v1alpha1.ConditionReady}
		switch {
		case *p.dep.Spec.Replicas == 0:
			ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonNoWorkers, "workers.replicas is 0"
		case st.ReadyWorkers > 0:
			ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, ReasonWorkersReady,
				fmt.Sprintf("%d of %d workers ready", st.ReadyWorkers, *p.dep.Spec.Replicas)
		default:
			ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonNoWorkersReady,
				fmt.Sprintf("0 of %d workers ready", *p.dep.Spec.Replicas)
		}
	}
	return r.writeStatus(ctx, wp, before, "SyncPool", p.synced, ready)
}

// SetupWithManager registers the reconciler: PrefectWorkPools and the
// workers' objects it owns.
func (r *PrefectWorkPoolReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named("prefectworkpool").
		WithOptions(workPlaneOptions()).
		For(&v1alpha1.PrefectWorkPool{}, specChanged).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{})
	newList := func() client.ObjectList { return &v1alpha1.PrefectWorkPoolList{} }
	// A base job template may come from a ConfigMap, read uncached.
	b = b.Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.inNamespace(newList)), builder.OnlyMetadata)
	return r.watchInputs(b, newList).Complete(r)
}
