package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// WorkPoolFinalizer holds a PrefectWorkPool until its pool is deleted from
// the server (deletionPolicy Delete) and its workers' RBAC in other
// namespaces is gone.
const WorkPoolFinalizer = "prefectgo.dev/work-pool"

// Reasons of the work-plane conditions.
const (
	ReasonSynced            = "Synced"
	ReasonServerNotFound    = "ServerNotFound"
	ReasonServerUnavailable = "ServerUnavailable"
	ReasonUnauthorized      = "Unauthorized"
	ReasonRejected          = "Rejected"
	ReasonWorkersReady      = "WorkersReady"
	ReasonNoWorkersReady    = "NoWorkersReady"
	ReasonNoWorkers         = "NoWorkers"
)

// DefaultResync is how often a synced pool is compared with the server
// again, so a change made through the UI or CLI is found and undone.
const DefaultResync = 5 * time.Minute

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

// PrefectWorkPoolReconciler keeps a work pool on its server as the spec
// says, and runs its workers.
type PrefectWorkPoolReconciler struct {
	client.Client
	// APIReader reads Secrets straight from the API server (the cache holds
	// only their metadata).
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Resync is how often a synced pool is checked again; zero means DefaultResync.
	Resync time.Duration
	// NewClient makes the client of a server; nil means prefectapi.New.
	NewClient func(url, auth string) *prefectapi.Client
}

// poolPass is what one reconcile of a PrefectWorkPool saw.
type poolPass struct {
	wp     *v1alpha1.PrefectWorkPool
	server builders.WorkerServer
	api    *prefectapi.Client
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
		return ctrl.Result{}, r.finalize(ctx, wp)
	}
	if controllerutil.AddFinalizer(wp, WorkPoolFinalizer) {
		if err := r.Update(ctx, wp); err != nil {
			return ctrl.Result{}, err
		}
	}

	p := &poolPass{wp: wp}
	retry, err := r.syncPool(ctx, p)
	if err == nil {
		err = r.applyWorkers(ctx, p)
	}
	if statusErr := r.writePoolStatus(ctx, p); statusErr != nil && err == nil {
		err = statusErr
	}
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case retry:
		// The server is down or refused us: the workqueue's backoff spaces
		// the tries, never a hot loop.
		return ctrl.Result{}, errors.New(p.synced.Message)
	}
	return ctrl.Result{RequeueAfter: r.resync()}, nil
}

func (r *PrefectWorkPoolReconciler) resync() time.Duration {
	if r.Resync > 0 {
		return r.Resync
	}
	return DefaultResync
}

// resolveServer finds the server's URL and credentials, or says in p.synced
// why it cannot.
func (r *PrefectWorkPoolReconciler) resolveServer(ctx context.Context, p *poolPass) bool {
	ref := p.wp.Spec.Server
	p.server = builders.WorkerServer{URL: ref.URL, Auth: ref.AuthSecretRef}
	if ref.Name != "" {
		ps := &v1alpha1.PrefectServer{}
		err := r.Get(ctx, client.ObjectKey{Namespace: p.wp.Namespace, Name: ref.Name}, ps)
		if err != nil {
			p.synced = notSynced(ReasonServerNotFound, "PrefectServer %s: %v", ref.Name, err)
			return false
		}
		p.server = builders.WorkerServer{URL: builders.APIURL(ps), Auth: ps.Spec.API.AuthSecretRef}
	}
	auth := ""
	if sel := p.server.Auth; sel != nil {
		var s corev1.Secret
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: p.wp.Namespace, Name: sel.Name}, &s); err != nil {
			p.synced = notSynced(ReasonSecretNotFound, "Secret %s: %v", sel.Name, err)
			return false
		}
		v, ok := s.Data[sel.Key]
		if !ok {
			p.synced = notSynced(ReasonSecretKeyNotFound, "Secret %s has no key %q", sel.Name, sel.Key)
			return false
		}
		auth = string(v)
	}
	newClient := r.NewClient
	if newClient == nil {
		newClient = prefectapi.New
	}
	p.api = newClient(p.server.URL, auth)
	return true
}

func notSynced(reason, format string, args ...any) metav1.Condition {
	return metav1.Condition{Type: v1alpha1.ConditionSynced, Status: metav1.ConditionFalse, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// poolWrite is what the spec sets of the pool.
func poolWrite(wp *v1alpha1.PrefectWorkPool) prefectapi.WorkPoolWrite {
	w := prefectapi.WorkPoolWrite{Name: builders.PoolName(wp), Type: builders.PoolType(wp),
		IsPaused: wp.Spec.Paused, ConcurrencyLimit: wp.Spec.ConcurrencyLimit}
	if wp.Spec.Description != "" {
		w.Description = &wp.Spec.Description
	}
	if wp.Spec.BaseJobTemplate != nil {
		w.BaseJobTemplate = json.RawMessage(wp.Spec.BaseJobTemplate.Raw)
	}
	return w
}

// drifted says whether the pool on the server differs from what the spec sets.
func drifted(have prefectapi.WorkPool, want prefectapi.WorkPoolWrite) bool {
	if have.IsPaused != want.IsPaused || !equalPtr(have.ConcurrencyLimit, want.ConcurrencyLimit) ||
		!equalPtr(emptyNil(have.Description), want.Description) {
		return true
	}
	if want.BaseJobTemplate == nil {
		return false
	}
	var a, b any
	_ = json.Unmarshal(have.BaseJobTemplate, &a)
	_ = json.Unmarshal(want.BaseJobTemplate, &b)
	return !equality.Semantic.DeepEqual(a, b)
}

func equalPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func emptyNil(s *string) *string {
	if s != nil && *s == "" {
		return nil
	}
	return s
}

// syncPool creates the pool, or corrects what differs from the spec. retry
// says the server could not be reached or refused the credentials.
func (r *PrefectWorkPoolReconciler) syncPool(ctx context.Context, p *poolPass) (retry bool, err error) {
	if !r.resolveServer(ctx, p) {
		return false, nil // watched: a new PrefectServer or Secret brings the next pass
	}
	want := poolWrite(p.wp)
	have, err := p.api.ReadWorkPool(ctx, want.Name)
	switch {
	case prefectapi.IsNotFound(err):
		have, err = p.api.CreateWorkPool(ctx, want)
	case err == nil && drifted(have, want):
		if err = p.api.UpdateWorkPool(ctx, want.Name, want); err == nil {
			if r.Recorder != nil {
				r.Recorder.Eventf(p.wp, nil, corev1.EventTypeNormal, "DriftCorrected", "SyncPool",
					"work pool %s differed from the spec on the server and was set back", want.Name)
			}
			have, err = p.api.ReadWorkPool(ctx, want.Name)
		}
	}
	switch {
	case err == nil:
		p.pool = have
		p.synced = metav1.Condition{Type: v1alpha1.ConditionSynced, Status: metav1.ConditionTrue, Reason: ReasonSynced,
			Message: fmt.Sprintf("work pool %s (%s) on %s matches the spec", have.Name, have.ID, p.server.URL)}
		return false, nil
	case prefectapi.IsUnauthorized(err):
		p.synced = notSynced(ReasonUnauthorized, "%s refused the credentials: %v", p.server.URL, err)
		return true, nil
	case prefectapi.IsInvalid(err):
		// The spec is wrong (say, a base job template the server refuses):
		// nothing changes until it does.
		p.synced = notSynced(ReasonRejected, "%v", err)
		return false, nil
	default:
		p.synced = notSynced(ReasonServerUnavailable, "%s: %v", p.server.URL, err)
		return true, nil
	}
}

// applyWorkers applies the workers' ServiceAccount, their RBAC in each job
// namespace (kubernetes pools) and their Deployment, and deletes RBAC left
// in namespaces no longer listed. Before the server is resolved there is
// nothing to point workers at.
func (r *PrefectWorkPoolReconciler) applyWorkers(ctx context.Context, p *poolPass) error {
	if p.api == nil {
		return nil
	}
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
			want[ns] = true
		}
	}
	if err := r.deleteWorkerRBAC(ctx, wp, want); err != nil {
		return err
	}
	dep := builders.WorkerDeployment(wp, p.server)
	if err := applyChild(ctx, r.Client, wp, dep, owned); err != nil {
		return err
	}
	p.dep = dep
	return nil
}

// deleteWorkerRBAC deletes this pool's worker Roles and RoleBindings outside
// the namespaces in keep.
func (r *PrefectWorkPoolReconciler) deleteWorkerRBAC(ctx context.Context, wp *v1alpha1.PrefectWorkPool, keep map[string]bool) error {
	sel := client.MatchingLabels(builders.WorkerSelectorLabels(wp))
	var roles rbacv1.RoleList
	if err := r.List(ctx, &roles, sel); err != nil {
		return fmt.Errorf("list Roles: %w", err)
	}
	var bindings rbacv1.RoleBindingList
	if err := r.List(ctx, &bindings, sel); err != nil {
		return fmt.Errorf("list RoleBindings: %w", err)
	}
	var stale []client.Object
	for i := range roles.Items {
		if o := &roles.Items[i]; !keep[o.Namespace] && o.Name == builders.WorkerName(wp) && servesPool(o, wp) {
			stale = append(stale, o)
		}
	}
	for i := range bindings.Items {
		if o := &bindings.Items[i]; !keep[o.Namespace] && o.Name == builders.WorkerName(wp) && servesPool(o, wp) {
			stale = append(stale, o)
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

// finalize deletes the pool from the server (deletionPolicy Delete) and the
// workers' RBAC in other namespaces, then lets the resource go. A server
// that cannot be reached holds the deletion, with the reason in Synced.
func (r *PrefectWorkPoolReconciler) finalize(ctx context.Context, wp *v1alpha1.PrefectWorkPool) error {
	if !controllerutil.ContainsFinalizer(wp, WorkPoolFinalizer) {
		return nil
	}
	if wp.Spec.DeletionPolicy != v1alpha1.DeletionPolicyOrphan && wp.Status.PoolID != "" {
		p := &poolPass{wp: wp}
		if r.resolveServer(ctx, p) {
			if err := p.api.DeleteWorkPool(ctx, builders.PoolName(wp)); err != nil {
				p.synced = notSynced(ReasonServerUnavailable, "deleting work pool %s: %v", builders.PoolName(wp), err)
				_ = r.writePoolStatus(ctx, p)
				return err
			}
		} else if p.synced.Reason != ReasonServerNotFound {
			// The server is gone with its PrefectServer: nothing to delete there.
			_ = r.writePoolStatus(ctx, p)
			return errors.New(p.synced.Message)
		}
	}
	if err := r.deleteWorkerRBAC(ctx, wp, nil); err != nil {
		return err
	}
	controllerutil.RemoveFinalizer(wp, WorkPoolFinalizer)
	return client.IgnoreNotFound(r.Update(ctx, wp))
}

// writePoolStatus writes what the pass saw, if it changed.
func (r *PrefectWorkPoolReconciler) writePoolStatus(ctx context.Context, p *poolPass) error {
	wp := p.wp
	before := wp.DeepCopy()
	st := &wp.Status
	st.ObservedGeneration = wp.Generation
	if p.synced.Type != "" {
		c := p.synced
		c.ObservedGeneration = wp.Generation
		meta.SetStatusCondition(&st.Conditions, c)
	}
	if p.pool.ID != "" {
		st.PoolID, st.PoolName = p.pool.ID, p.pool.Name
	}
	if p.dep != nil {
		dep := &appsv1.Deployment{}
		if err := r.Get(ctx, client.ObjectKeyFromObject(p.dep), dep); err == nil {
			st.ReadyWorkers = dep.Status.ReadyReplicas
		}
		ready := metav1.Condition{Type: v1alpha1.ConditionReady, ObservedGeneration: wp.Generation}
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
		meta.SetStatusCondition(&st.Conditions, ready)
	}
	r.recordPoolTransitions(wp, before.Status.Conditions)
	if equality.Semantic.DeepEqual(before.Status, wp.Status) {
		return nil
	}
	return client.IgnoreNotFound(r.Status().Patch(ctx, wp, client.MergeFrom(before)))
}

// recordPoolTransitions makes an Event when Synced turns False or back True.
func (r *PrefectWorkPoolReconciler) recordPoolTransitions(wp *v1alpha1.PrefectWorkPool, old []metav1.Condition) {
	now := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ConditionSynced)
	was := meta.FindStatusCondition(old, v1alpha1.ConditionSynced)
	if r.Recorder == nil || now == nil || (was != nil && was.Status == now.Status && was.Reason == now.Reason) {
		return
	}
	kind := corev1.EventTypeNormal
	if now.Status != metav1.ConditionTrue {
		kind = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(wp, nil, kind, now.Reason, "SyncPool", "%s", now.Message)
}

// SetupWithManager registers the reconciler: PrefectWorkPools and the
// workers' objects it owns.
func (r *PrefectWorkPoolReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("prefectworkpool").
		For(&v1alpha1.PrefectWorkPool{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{},
			predicate.LabelChangedPredicate{},
			predicate.AnnotationChangedPredicate{},
		))).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		// A pool waits on its server and credentials: a PrefectServer or a
		// Secret appearing or changing looks at the pools of its namespace.
		Watches(&v1alpha1.PrefectServer{}, handler.EnqueueRequestsFromMapFunc(r.poolsInNamespace)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.poolsInNamespace), builder.OnlyMetadata).
		Complete(r)
}

// poolsInNamespace maps an object to the PrefectWorkPools of its namespace.
func (r *PrefectWorkPoolReconciler) poolsInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.PrefectWorkPoolList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	out := make([]reconcile.Request, len(list.Items))
	for i, wp := range list.Items {
		out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&wp)}
	}
	return out
}
