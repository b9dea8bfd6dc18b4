package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// DeploymentFinalizer holds a PrefectDeployment until its deployment is
// deleted from the server (deletionPolicy Delete).
const DeploymentFinalizer = "prefectgo.dev/deployment"

// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectdeployments,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectdeployments/status,verbs=get;patch
// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectdeployments/finalizers,verbs=update

// PrefectDeploymentReconciler keeps a deployment and its schedules on its
// server as the spec says.
type PrefectDeploymentReconciler struct {
	WorkPlane
}

// Reconcile syncs the deployment, then its schedules, then the status.
func (r *PrefectDeploymentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	d := &v1alpha1.PrefectDeployment{}
	if err := r.Get(ctx, req.NamespacedName, d); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !d.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, d, deploymentRemoval(d))
	}
	if err := r.addFinalizer(ctx, d, DeploymentFinalizer); err != nil {
		return ctrl.Result{}, err
	}
	before := d.DeepCopy()
	cond, have, retry := r.syncDeployment(ctx, d)
	err := r.writeStatus(ctx, d, before, "SyncDeployment", cond, pollReady(cond, have.Status, have.Paused))
	return r.result(cond, retry, err)
}

// syncDeployment creates the deployment or corrects what differs from the
// spec, then its schedules. It answers the Synced condition, the deployment
// as the server has it, and whether to try again with backoff.
//
// Nothing is written when nothing differs: the server deletes a
// deployment's scheduled runs still to come on every write to it or to its
// schedules. For the same reason an existing deployment is never sent to
// POST /deployments/ (an upsert that replaces every schedule): its fields
// are PATCHed, and its schedules changed one by one through their routes.
func (r *PrefectDeploymentReconciler) syncDeployment(ctx context.Context, d *v1alpha1.PrefectDeployment) (metav1.Condition, prefectapi.Deployment, bool) {
	conn, cond, ok := r.connect(ctx, d.Namespace, d.Spec.Server)
	if !ok {
		return cond, prefectapi.Deployment{}, false
	}
	scheds, err := scheduleWrites(d)
	if err != nil {
		return notSynced(ReasonRejected, "%v", err), prefectapi.Deployment{}, false
	}
	want, flow, name := deploymentWrite(d), FlowName(d), DeploymentName(d)
	full := flow + "/" + name
	api := conn.api
	fail := func(err error) (metav1.Condition, prefectapi.Deployment, bool) {
		cond, retry := apiFailure(err, conn.URL)
		return cond, prefectapi.Deployment{}, retry
	}

	have, err := api.ReadDeploymentByName(ctx, flow, name)
	created := false
	switch {
	case prefectapi.IsNotFound(err):
		if have, err = r.createDeployment(ctx, api, flow, name, want); err != nil {
			return fail(err)
		}
		created = true
	case err != nil:
		return fail(err)
	}
	// Recorded at once: a deployment made here is deleted with the
	// resource even if a schedule below is refused.
	d.Status.DeploymentID, d.Status.DeploymentName, d.Status.FlowID = have.ID, full, have.FlowID

	var changed []string
	if drift := deploymentDrift(have, want); !created && len(drift) > 0 {
		if err := api.UpdateDeployment(ctx, have.ID, want); err != nil {
			return fail(workPoolMissing(deref(want.WorkPoolName, ""), err))
		}
		changed = append(changed, drift...)
		have.Paused = want.Paused
	}
	plan := planSchedules(have.Schedules, scheds)
	if !plan.empty() {
		if err := applySchedules(ctx, api, have.ID, plan); err != nil {
			return fail(err)
		}
		if !created {
			changed = append(changed, fmt.Sprintf("schedules %v", plan.slugs(have.Schedules)))
		}
	}
	if len(changed) > 0 {
		r.recordWrite(d, "SyncDeployment", "deployment "+full, changed)
	}
	verb := "matches the spec"
	if created {
		verb = "created"
	}
	return synced("deployment %s (%s) on %s %s", full, have.ID, conn.URL, verb), have, false
}

// createDeployment makes the flow (when new) and the deployment, without
// schedules: those go through the schedule routes like every later change,
// which keep all their fields (Prefect's upsert drops max_scheduled_runs).
// The only 404 of the create is the work pool missing.
func (r *PrefectDeploymentReconciler) createDeployment(ctx context.Context, api *prefectapi.Client, flow, name string,
	want prefectapi.DeploymentWrite) (prefectapi.Deployment, error) {
	f, err := api.CreateFlow(ctx, flow)
	if err != nil {
		return prefectapi.Deployment{}, err
	}
	want.FlowID, want.Name = f.ID, name
	have, err := api.CreateDeployment(ctx, want)
	if err != nil {
		return have, workPoolMissing(deref(want.WorkPoolName, ""), err)
	}
	return have, nil
}

// applySchedules carries out the plan: removed schedules first, so a slug
// freed is free, then updates in place, then new schedules.
func applySchedules(ctx context.Context, api *prefectapi.Client, deployment string, plan schedulePlan) error {
	for _, id := range plan.remove {
		if err := api.DeleteSchedule(ctx, deployment, id); err != nil {
			return fmt.Errorf("delete schedule %s: %w", id, err)
		}
	}
	for _, u := range plan.update {
		if err := api.UpdateSchedule(ctx, deployment, u.id, u.w); err != nil {
			return fmt.Errorf("update schedule %s: %w", u.w.Slug, err)
		}
	}
	if len(plan.create) > 0 {
		if err := api.CreateSchedules(ctx, deployment, plan.create); err != nil {
			return fmt.Errorf("create schedules: %w", err)
		}
	}
	return nil
}

// deploymentRemoval deletes the deployment (and its scheduled runs) from
// the server when the policy is Delete and it was made or found.
func deploymentRemoval(d *v1alpha1.PrefectDeployment) removal {
	rm := removal{finalizer: DeploymentFinalizer, server: d.Spec.Server, action: "DeleteDeployment"}
	if d.Spec.DeletionPolicy != v1alpha1.DeletionPolicyOrphan && d.Status.DeploymentID != "" {
		id := d.Status.DeploymentID
		rm.remove = func(ctx context.Context, api *prefectapi.Client) error { return api.DeleteDeployment(ctx, id) }
	}
	return rm
}

// SetupWithManager registers the reconciler.
func (r *PrefectDeploymentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return r.setupWithManager(mgr, r)
}

// setupWithManager registers rec (the reconciler, or a test's wrapper of it).
func (r *PrefectDeploymentReconciler) setupWithManager(mgr ctrl.Manager, rec reconcile.Reconciler) error {
	newList := func() client.ObjectList { return &v1alpha1.PrefectDeploymentList{} }
	b := ctrl.NewControllerManagedBy(mgr).
		Named("prefectdeployment").
		WithOptions(workPlaneOptions()).
		For(&v1alpha1.PrefectDeployment{}, specChanged)
	// A deployment may wait on its work pool.
	b = r.watchPools(b, newList)
	return r.watchInputs(b, newList).Complete(rec)
}
