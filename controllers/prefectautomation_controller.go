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

// AutomationFinalizer holds a PrefectAutomation until its automation is
// deleted from the server (deletionPolicy Delete).
const AutomationFinalizer = "prefectgo.dev/automation"

// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectautomations,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectautomations/status,verbs=get;patch
// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectautomations/finalizers,verbs=update

// PrefectAutomationReconciler keeps an automation on its server as the
// spec says.
type PrefectAutomationReconciler struct {
	WorkPlane
}

// Reconcile syncs the automation, then writes the status.
func (r *PrefectAutomationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	a := &v1alpha1.PrefectAutomation{}
	if err := r.Get(ctx, req.NamespacedName, a); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !a.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, a, automationRemoval(a))
	}
	if err := r.addFinalizer(ctx, a, AutomationFinalizer); err != nil {
		return ctrl.Result{}, err
	}
	before := a.DeepCopy()
	cond, retry := r.syncAutomation(ctx, a)
	err := r.writeStatus(ctx, a, before, "SyncAutomation", cond, automationReady(cond, a.Spec.Enabled == nil || *a.Spec.Enabled))
	return r.result(cond, retry, err)
}

// syncAutomation creates the automation, or replaces it (PUT) when it
// differs from the spec; a pass that finds it as the spec says writes
// nothing, since a write starts its trigger's windows afresh. It answers
// the Synced condition and whether to try again with backoff.
//
// The automation is the one whose id the status records, else the oldest
// of the spec's name on the server (adopted), else a new one.
func (r *PrefectAutomationReconciler) syncAutomation(ctx context.Context, a *v1alpha1.PrefectAutomation) (metav1.Condition, bool) {
	conn, cond, ok := r.connect(ctx, a.Namespace, a.Spec.Server)
	if !ok {
		return cond, false
	}
	api := conn.api
	fail := func(err error) (metav1.Condition, bool) { return apiFailure(err, conn.URL) }

	names, err := DeploymentNames(a)
	if err != nil {
		return notSynced(ReasonRejected, "%v", err), false
	}
	ids := map[string]string{}
	for _, full := range names {
		flow, name, _ := splitDeploymentName(full)
		d, err := api.ReadDeploymentByName(ctx, flow, name)
		if prefectapi.IsNotFound(err) {
			err = &missingError{reason: ReasonDeploymentNotFound, err: fmt.Errorf("deployment %s: %w", full, err)}
		}
		if err != nil {
			return fail(err)
		}
		ids[full] = d.ID
	}
	want, err := automationWrite(a, ids)
	if err != nil {
		return notSynced(ReasonRejected, "%v", err), false
	}

	have, found, err := findAutomation(ctx, api, a.Status.AutomationID, want.Name)
	if err != nil {
		return fail(err)
	}
	verb := "matches the spec"
	switch {
	case !found:
		if have, err = api.CreateAutomation(ctx, want); err != nil {
			return fail(err)
		}
		verb = "created"
	default:
		if drift := automationDrift(have, want); len(drift) > 0 {
			if err := api.UpdateAutomation(ctx, have.ID, want); err != nil {
				return fail(err)
			}
			r.recordWrite(a, "SyncAutomation", "automation "+want.Name, drift)
		}
	}
	a.Status.AutomationID, a.Status.AutomationName = have.ID, want.Name
	return synced("automation %s (%s) on %s %s", want.Name, have.ID, conn.URL, verb), false
}

// findAutomation reads the automation of the id recorded or, when there is
// none or it is gone, the oldest of that name.
func findAutomation(ctx context.Context, api *prefectapi.Client, id, name string) (prefectapi.Automation, bool, error) {
	if id != "" {
		have, err := api.ReadAutomation(ctx, id)
		if err == nil || !prefectapi.IsNotFound(err) {
			return have, err == nil, err
		}
	}
	named, err := api.AutomationsNamed(ctx, name)
	if err != nil || len(named) == 0 {
		return prefectapi.Automation{}, false, err
	}
	return named[0], true, nil
}

// automationReady is Ready for an automation: whether the server
// evaluates it. Without a synced automation there is nothing to say.
func automationReady(synced metav1.Condition, enabled bool) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}
	switch {
	case synced.Status != metav1.ConditionTrue:
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, ReasonNotSynced, "not synced: see Synced"
	case enabled:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, ReasonEnabled, "enabled: the server evaluates its trigger"
	default:
		c.Reason, c.Message = ReasonDisabled, "disabled: the server keeps it but never fires it"
	}
	return c
}

// automationRemoval deletes the automation recorded from the server when
// the policy is Delete.
func automationRemoval(a *v1alpha1.PrefectAutomation) removal {
	rm := removal{finalizer: AutomationFinalizer, server: a.Spec.Server, action: "DeleteAutomation"}
	if a.Spec.DeletionPolicy != v1alpha1.DeletionPolicyOrphan && a.Status.AutomationID != "" {
		id := a.Status.AutomationID
		rm.remove = func(ctx context.Context, api *prefectapi.Client) error { return api.DeleteAutomation(ctx, id) }
	}
	return rm
}

// SetupWithManager registers the reconciler.
func (r *PrefectAutomationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return r.setupWithManager(mgr, r)
}

// setupWithManager registers rec (the reconciler, or a test's wrapper of it).
func (r *PrefectAutomationReconciler) setupWithManager(mgr ctrl.Manager, rec reconcile.Reconciler) error {
	newList := func() client.ObjectList { return &v1alpha1.PrefectAutomationList{} }
	b := ctrl.NewControllerManagedBy(mgr).
		Named("prefectautomation").
		WithOptions(workPlaneOptions()).
		For(&v1alpha1.PrefectAutomation{}, specChanged)
	// An automation may wait on a deployment it names: a PrefectDeployment
	// making (or losing) its deployment has the namespace's automations
	// look again.
	b = r.watchDeployments(b, newList)
	return r.watchInputs(b, newList).Complete(rec)
}
