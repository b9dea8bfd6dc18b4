// Package controllers holds the PrefectServer reconciler. The objects it
// applies come from the pure functions in controllers/builders; this package
// decides when and in which order to apply them, and reports what it saw.
package controllers

import (
	"context"
	"fmt"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/controllers/opmetrics"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// FieldOwner is the server-side apply field manager of every object the
// operator writes.
const FieldOwner = "prefectgo-operator"

// secretIndex is the field index on PrefectServers that lists the Secrets each
// one references, so a Secret event finds its PrefectServers without a scan.
const secretIndex = ".spec.referencedSecrets"

// PrefectServerReconciler turns a PrefectServer into the objects that run it.
type PrefectServerReconciler struct {
	// Client reads through the manager's cache and writes to the API server.
	client.Client
	// APIReader reads Secrets straight from the API server: the cache watches
	// only their metadata, so no Secret data is held in memory.
	APIReader client.Reader
	// Recorder emits Kubernetes Events on transitions: a Secret gone missing,
	// a migration failed or succeeded.
	Recorder events.EventRecorder
	// DefaultImage runs the server when spec.image is unset: the operator's
	// own image, which bundles the server of the same version.
	DefaultImage string
	// MissingAPIRetry is how long a PrefectServer that asks for an
	// HTTPRoute, or for monitoring, waits for the Gateway API's or the
	// prometheus-operator's CRDs before the next look; zero means
	// DefaultMissingAPIRetry.
	MissingAPIRetry time.Duration

	// NewClient makes the canary's client of a server's API; nil means
	// prefectapi.New. Tests point it at a server process of their own.
	NewClient func(url, auth string) *prefectapi.Client

	// gateway knows whether the cluster serves HTTPRoutes, and monitoring
	// the prometheus-operator's kinds; each is watched from the first time
	// it is found.
	gateway    *optionalKind
	monitoring monitoringKinds
}

// maxConcurrentServerReconciles is how many PrefectServers are reconciled
// at once.
const maxConcurrentServerReconciles = 4

// DefaultMissingAPIRetry is MissingAPIRetry's default.
const DefaultMissingAPIRetry = 2 * time.Minute

func (r *PrefectServerReconciler) missingAPIRetry() time.Duration {
	if r.MissingAPIRetry > 0 {
		return r.MissingAPIRetry
	}
	return DefaultMissingAPIRetry
}

// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectservers,verbs=get;list;watch
// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectservers/status,verbs=get;patch
// +kubebuilder:rbac:groups=prefectgo.dev,resources=prefectservers/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=services;persistentvolumeclaims,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs;cronjobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=list;watch;create;patch;delete
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=list;watch;create;patch;delete
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors;podmonitors;prometheusrules,verbs=list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=list
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one PrefectServer's children in line with its spec, in
// order, and then writes what it saw to the status. A step may stop the pass
// (a Secret is missing; the database migration has not succeeded yet); the
// watches on Secrets and Jobs start the next pass when that changes, so
// Reconcile never polls. Only what no watch can tell brings a pass back
// after a while: the canary's next run, and the Gateway API's CRDs.
func (r *PrefectServerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ps := &v1alpha1.PrefectServer{}
	if err := r.Get(ctx, req.NamespacedName, ps); err != nil {
		// Gone: the children go with it through their owner references
		// (a retained SQLite volume has none, and stays), and its metrics
		// with it.
		if apierrors.IsNotFound(err) {
			opmetrics.Forget(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ps.DeletionTimestamp.IsZero() {
		opmetrics.Forget(req.Namespace, req.Name)
		return ctrl.Result{}, nil
	}

	p := &pass{ps: ps}
	err := r.runSteps(ctx, p, []step{
		{"secrets", r.loadSecrets},                  // a missing Secret or key stops the pass here
		{"service", r.applyService},                 // the API's Service
		{"exposure", r.reconcileExposure},           // the Ingress and HTTPRoute to the Service, as asked
		{"monitoring", r.reconcileMonitoring},       // ServiceMonitor or PodMonitor, PrometheusRule, as asked
		{"volume", r.applyVolume},                   // SQLite: the PVC, owned unless retainOnDelete
		{"migration", r.migrateDatabase},            // PostgreSQL: stops until this hash's Job succeeded
		{"deployment", r.applyDeployment},           // the server pods; the config hash rolls them
		{"disruption", r.reconcileDisruptionBudget}, // a PodDisruptionBudget for several replicas
		{"cronjobs", r.reconcileCronJobs},           // retention, scheduling and backups; none when ephemeral
		{"backups", r.observeBackups},               // the latest backup Jobs' outcome and report
	})
	var canaryAfter time.Duration
	if err == nil {
		// Last, so it never holds up the children a spec change asks for.
		canaryAfter, err = r.canaryStep(ctx, p)
	}
	if statusErr := r.writeStatus(ctx, p, err); statusErr != nil {
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("%w (and status: %w)", err, statusErr)
		}
		return ctrl.Result{}, fmt.Errorf("status: %w", statusErr)
	}
	// From the status just written, so the metrics and the conditions agree.
	if metricsErr := r.recordMetrics(ctx, ps); metricsErr != nil && err == nil {
		err = fmt.Errorf("metrics: %w", metricsErr)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	after := canaryAfter // the next canary: no watch tells when it is due
	if (p.gatewayAPIMissing || len(p.monitoringMissing) > 0) && (after == 0 || r.missingAPIRetry() < after) {
		// No watch tells when an add-on's CRDs arrive: look again later.
		after = r.missingAPIRetry()
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

// step is one named stage of a reconcile pass. It returns false to end the
// pass without error, leaving later stages untouched.
type step struct {
	name string
	run  func(context.Context, *pass) (next bool, err error)
}

// runSteps runs the steps in order until one stops or fails.
func (r *PrefectServerReconciler) runSteps(ctx context.Context, p *pass, steps []step) error {
	for _, s := range steps {
		next, err := s.run(ctx, p)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if !next {
			return nil
		}
	}
	return nil
}

// SetupWithManager registers the reconciler and its watches with the manager.
func (r *PrefectServerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return r.setupWithManager(mgr, r)
}

// setupWithManager lets a test wrap the reconciler (to count calls) while
// keeping the watches exactly as in production.
func (r *PrefectServerReconciler) setupWithManager(mgr ctrl.Manager, rec reconcile.Reconciler) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.PrefectServer{}, secretIndex,
		func(o client.Object) []string { return builders.ReferencedSecrets(o.(*v1alpha1.PrefectServer)) })
	if err != nil {
		return fmt.Errorf("index PrefectServers by Secret: %w", err)
	}
	c, err := ctrl.NewControllerManagedBy(mgr).
		Named("prefectserver").
		// A canary holds its own server's pass for up to its timeout; the
		// other servers' passes go on meanwhile. The workqueue never hands
		// one PrefectServer to two workers at once.
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrentServerReconciles}).
		// Our own status writes change neither generation, labels nor
		// annotations, so they do not come back as another pass.
		For(&v1alpha1.PrefectServer{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{},
			predicate.LabelChangedPredicate{},
			predicate.AnnotationChangedPredicate{},
		))).
		Owns(&appsv1.Deployment{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&corev1.Service{}).
		// Owns() would miss a retained volume, which has no owner reference:
		// map volumes by owner or, failing that, by name and instance label.
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(volumeServer)).
		Owns(&batchv1.Job{}).
		Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(backupJobServer)).
		Owns(&batchv1.CronJob{}).
		Owns(&networkingv1.Ingress{}).
		// Secrets are inputs, not children: a change to one (its data moves
		// its resourceVersion) reaches every PrefectServer that references it.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.serversReferencing), builder.OnlyMetadata).
		Build(rec)
	if err != nil {
		return err
	}
	// The add-ons' kinds are watched only once the cluster serves them: a
	// watch on a kind without a CRD would keep the manager from starting.
	if r.gateway, err = newOptionalKind(mgr, c, &gatewayv1.HTTPRoute{}, httpRouteKind); err != nil {
		return err
	}
	gv := monitoringv1.SchemeGroupVersion
	if r.monitoring.serviceMonitors, err = newOptionalKind(mgr, c, &monitoringv1.ServiceMonitor{},
		gv.WithKind(monitoringv1.ServiceMonitorsKind)); err != nil {
		return err
	}
	if r.monitoring.podMonitors, err = newOptionalKind(mgr, c, &monitoringv1.PodMonitor{},
		gv.WithKind(monitoringv1.PodMonitorsKind)); err != nil {
		return err
	}
	r.monitoring.rules, err = newOptionalKind(mgr, c, &monitoringv1.PrometheusRule{}, gv.WithKind(monitoringv1.PrometheusRuleKind))
	return err
}

// volumeServer maps a PersistentVolumeClaim to its PrefectServer: its
// controller, or, for a retained volume (the SQLite one, or the backup one
// the operator made), the PrefectServer whose volume name it has and whose
// instance label it carries.
func volumeServer(_ context.Context, pvc client.Object) []reconcile.Request {
	name := ""
	if ref := metav1.GetControllerOf(pvc); ref != nil {
		if ref.APIVersion != v1alpha1.GroupVersion.String() || ref.Kind != "PrefectServer" {
			return nil
		}
		name = ref.Name
	} else {
		name = pvc.GetLabels()["app.kubernetes.io/instance"]
		ps := &v1alpha1.PrefectServer{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if name == "" || (builders.PVCName(ps) != pvc.GetName() && builders.BackupPVCName(ps) != pvc.GetName()) {
			return nil
		}
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: pvc.GetNamespace(), Name: name}}}
}

// serversReferencing maps a Secret to the PrefectServers of its namespace
// that reference it, through the secretIndex field index.
func (r *PrefectServerReconciler) serversReferencing(ctx context.Context, secret client.Object) []reconcile.Request {
	var list v1alpha1.PrefectServerList
	if err := r.List(ctx, &list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{secretIndex: secret.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list PrefectServers referencing a Secret", "secret", secret.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, ps := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ps)})
	}
	return reqs
}
