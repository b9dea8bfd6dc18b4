package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// The work plane: resources kept on a Prefect server through its API
// (PrefectWorkPool, PrefectWorkQueue, PrefectDeployment, PrefectAutomation).
// Their reconcilers share how a server is reached, how an answer of its API
// becomes the Synced condition, the finalizer with its deletion policy, and
// the status write.

// Reasons of the work-plane conditions.
const (
	ReasonSynced            = "Synced"
	ReasonServerNotFound    = "ServerNotFound"
	ReasonServerUnavailable = "ServerUnavailable"
	ReasonUnauthorized      = "Unauthorized"
	ReasonRejected          = "Rejected"
	ReasonWorkPoolNotFound  = "WorkPoolNotFound"
	ReasonWorkersReady      = "WorkersReady"
	ReasonNoWorkersReady    = "NoWorkersReady"
	ReasonNoWorkers         = "NoWorkers"
	// Ready of queues and deployments: what the server says of their polls.
	ReasonPolled    = "Polled"
	ReasonNotPolled = "NotPolled"
	ReasonPaused    = "Paused"
	ReasonNotSynced = "NotSynced"
	// Ready of automations: whether the server evaluates them. An
	// automation's Synced is False with ReasonDeploymentNotFound (the
	// PrefectServer's, same word) while a deployment an action names is
	// not on the server.
	ReasonEnabled  = "Enabled"
	ReasonDisabled = "Disabled"
)

// DefaultResync is how often a synced object is compared with the server
// again, so a change made through the UI or CLI is found and undone.
const DefaultResync = 5 * time.Minute

// WorkPlane is what the work-plane reconcilers are built from.
type WorkPlane struct {
	client.Client
	// APIReader reads Secrets straight from the API server (the cache holds
	// only their metadata).
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Resync is how often a synced object is checked again; zero means DefaultResync.
	Resync time.Duration
	// NewClient makes the client of a server; nil means prefectapi.New.
	NewClient func(url, auth string) *prefectapi.Client
}

// remoteObject is a resource kept on a Prefect server.
type remoteObject interface {
	client.Object
	GetSyncStatus() *v1alpha1.SyncStatus
}

// serverConn is a server resolved from a ServerReference: what workers are
// given (its URL and the Secret key of its credentials) and the operator's
// client of it.
type serverConn struct {
	builders.WorkerServer
	api *prefectapi.Client
}

func (w *WorkPlane) resync() time.Duration {
	if w.Resync > 0 {
		return w.Resync
	}
	return DefaultResync
}

// connect resolves ref, read from namespace, into a client of the server,
// or says in the returned condition why it cannot.
func (w *WorkPlane) connect(ctx context.Context, namespace string, ref v1alpha1.ServerReference) (serverConn, metav1.Condition, bool) {
	conn := serverConn{WorkerServer: builders.WorkerServer{URL: ref.URL, Auth: ref.AuthSecretRef}}
	if ref.Name != "" {
		ps := &v1alpha1.PrefectServer{}
		if err := w.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, ps); err != nil {
			return conn, notSynced(ReasonServerNotFound, "PrefectServer %s: %v", ref.Name, err), false
		}
		conn.WorkerServer = builders.WorkerServer{URL: builders.APIURL(ps), Auth: ps.Spec.API.AuthSecretRef}
	}
	auth := ""
	if sel := conn.Auth; sel != nil {
		var s corev1.Secret
		if err := w.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: sel.Name}, &s); err != nil {
			return conn, notSynced(ReasonSecretNotFound, "Secret %s: %v", sel.Name, err), false
		}
		v, ok := s.Data[sel.Key]
		if !ok {
			return conn, notSynced(ReasonSecretKeyNotFound, "Secret %s has no key %q", sel.Name, sel.Key), false
		}
		auth = string(v)
	}
	newClient := w.NewClient
	if newClient == nil {
		newClient = prefectapi.New
	}
	conn.api = newClient(conn.URL, auth)
	return conn, metav1.Condition{}, true
}

func notSynced(reason, format string, args ...any) metav1.Condition {
	return metav1.Condition{Type: v1alpha1.ConditionSynced, Status: metav1.ConditionFalse, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func synced(format string, args ...any) metav1.Condition {
	return metav1.Condition{Type: v1alpha1.ConditionSynced, Status: metav1.ConditionTrue, Reason: ReasonSynced, Message: fmt.Sprintf(format, args...)}
}

// missingError is a 404 that names something the spec depends on (the
// queue's or the deployment's work pool, an automation's deployment), which
// may yet appear.
type missingError struct {
	reason string
	err    error
}

func (e *missingError) Error() string { return e.err.Error() }
func (e *missingError) Unwrap() error { return e.err }

// workPoolMissing marks a 404 of the server as the work pool missing.
func workPoolMissing(pool string, err error) error {
	if !prefectapi.IsNotFound(err) {
		return err
	}
	return &missingError{reason: ReasonWorkPoolNotFound, err: fmt.Errorf("work pool %s: %w", pool, err)}
}

// apiFailure is the Synced condition for an error of the server's API, and
// whether to try again with backoff: a server down, credentials refused or
// something the spec depends on missing may change on their own; a spec the
// server refuses will not until the spec does.
func apiFailure(err error, url string) (metav1.Condition, bool) {
	var missing *missingError
	switch {
	case errors.As(err, &missing):
		return notSynced(missing.reason, "%v", err), true
	case prefectapi.IsUnauthorized(err):
		return notSynced(ReasonUnauthorized, "%s refused the credentials: %v", url, err), true
	case prefectapi.IsInvalid(err):
		return notSynced(ReasonRejected, "%v", err), false
	default:
		return notSynced(ReasonServerUnavailable, "%s: %v", url, err), true
	}
}

// pollReady is Ready for a queue or deployment: the server's status, READY
// when a worker (or a runner) polled it lately. Without a synced object
// there is nothing to ask.
func pollReady(synced metav1.Condition, status string, paused bool) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}
	switch {
	case synced.Status != metav1.ConditionTrue:
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, ReasonNotSynced, "not synced: see Synced"
	case paused:
		c.Reason, c.Message = ReasonPaused, "paused"
	case status == "READY":
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, ReasonPolled, "the server reports it READY: polled lately"
	default:
		c.Reason, c.Message = ReasonNotPolled, fmt.Sprintf("the server reports it %s: not polled lately", status)
	}
	return c
}

// recordWrite records a change made on the server to the fields named:
// Updated when the spec changed since the last pass, DriftCorrected when
// the object on the server had moved away from a spec that had not (a
// change made in the UI or the CLI, undone).
func (w *WorkPlane) recordWrite(obj remoteObject, action, what string, fields []string) {
	if w.Recorder == nil {
		return
	}
	if obj.GetSyncStatus().ObservedGeneration != obj.GetGeneration() {
		w.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "Updated", action, "%s updated to the spec: %v", what, fields)
		return
	}
	w.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "DriftCorrected", action,
		"%s differed from the spec on the server (%v) and was set back", what, fields)
}

func equalPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// emptyNil reads an empty string the server answers as no string.
func emptyNil(s *string) *string {
	if s != nil && *s == "" {
		return nil
	}
	return s
}

// addFinalizer puts the finalizer on obj before anything is made on a server.
func (w *WorkPlane) addFinalizer(ctx context.Context, obj client.Object, finalizer string) error {
	if controllerutil.AddFinalizer(obj, finalizer) {
		return w.Update(ctx, obj)
	}
	return nil
}

// removal is how a resource leaves: what to delete on the server and what
// else to clean up before its finalizer goes.
type removal struct {
	finalizer string
	server    v1alpha1.ServerReference
	action    string
	// remove deletes the object from the server; nil when there is nothing
	// to delete there (deletionPolicy Orphan, nothing ever made).
	remove func(context.Context, *prefectapi.Client) error
	// then runs after remove (the workers' RBAC in other namespaces).
	then func(context.Context) error
}

// finalize deletes what rm says, then lets obj go. A server that cannot be
// reached holds the deletion, with the reason in Synced; a PrefectServer
// that is gone took its objects with it.
func (w *WorkPlane) finalize(ctx context.Context, obj remoteObject, rm removal) error {
	if !controllerutil.ContainsFinalizer(obj, rm.finalizer) {
		return nil
	}
	if rm.remove != nil {
		before := obj.DeepCopyObject().(remoteObject)
		conn, cond, ok := w.connect(ctx, obj.GetNamespace(), rm.server)
		switch {
		case ok:
			if err := rm.remove(ctx, conn.api); err != nil {
				cond, _ = apiFailure(err, conn.URL)
				cond.Message = "deleting it from the server: " + cond.Message
				_ = w.writeStatus(ctx, obj, before, rm.action, cond)
				return err
			}
		case cond.Reason != ReasonServerNotFound:
			_ = w.writeStatus(ctx, obj, before, rm.action, cond)
			return errors.New(cond.Message)
		}
	}
	if rm.then != nil {
		if err := rm.then(ctx); err != nil {
			return err
		}
	}
	controllerutil.RemoveFinalizer(obj, rm.finalizer)
	return client.IgnoreNotFound(w.Update(ctx, obj))
}

// writeStatus sets the observed generation and the conditions given (those
// with a type) on obj, records an Event when Synced turns, and patches the
// status when it differs from before's.
func (w *WorkPlane) writeStatus(ctx context.Context, obj, before remoteObject, action string, conds ...metav1.Condition) error {
	st := obj.GetSyncStatus()
	st.ObservedGeneration = obj.GetGeneration()
	for _, c := range conds {
		if c.Type == "" {
			continue
		}
		c.ObservedGeneration = obj.GetGeneration()
		meta.SetStatusCondition(&st.Conditions, c)
	}
	w.recordSyncedTransition(obj, before.GetSyncStatus().Conditions, action)
	if equality.Semantic.DeepEqual(before, obj) {
		return nil
	}
	return client.IgnoreNotFound(w.Status().Patch(ctx, obj, client.MergeFrom(before)))
}

// recordSyncedTransition makes an Event when Synced turns False or back True.
func (w *WorkPlane) recordSyncedTransition(obj remoteObject, old []metav1.Condition, action string) {
	now := meta.FindStatusCondition(obj.GetSyncStatus().Conditions, v1alpha1.ConditionSynced)
	was := meta.FindStatusCondition(old, v1alpha1.ConditionSynced)
	if w.Recorder == nil || now == nil || (was != nil && was.Status == now.Status && was.Reason == now.Reason) {
		return
	}
	kind := corev1.EventTypeNormal
	if now.Status != metav1.ConditionTrue {
		kind = corev1.EventTypeWarning
	}
	w.Recorder.Eventf(obj, nil, kind, now.Reason, action, "%s", now.Message)
}

// result ends a pass: a pass to retry goes back through the workqueue's
// backoff (never a hot loop), any other is compared again after Resync.
func (w *WorkPlane) result(synced metav1.Condition, retry bool, err error) (ctrl.Result, error) {
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case retry:
		return ctrl.Result{}, errors.New(synced.Message)
	}
	return ctrl.Result{RequeueAfter: w.resync()}, nil
}

// workPlaneOptions retry a failed pass from one second, doubling, up to a
// minute: never a hot loop, and never the default's quarter hour, which a
// server that takes a few seconds to come up (dozens of quick failures)
// would otherwise leave its resources waiting for.
func workPlaneOptions() controller.Options {
	return controller.Options{
		RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, time.Minute),
	}
}

// specChanged passes the events that change what a resource asks for; the
// reconcilers' own status writes do not come back as another pass.
var specChanged = builder.WithPredicates(predicate.Or(
	predicate.GenerationChangedPredicate{},
	predicate.LabelChangedPredicate{},
	predicate.AnnotationChangedPredicate{},
))

// watchInputs has a work-plane controller look again at the resources of a
// namespace when a PrefectServer or Secret there changes: they may be
// waiting on it. newList makes an empty list of the resource's kind.
func (w *WorkPlane) watchInputs(b *builder.Builder, newList func() client.ObjectList) *builder.Builder {
	mapper := handler.EnqueueRequestsFromMapFunc(w.inNamespace(newList))
	return b.
		Watches(&v1alpha1.PrefectServer{}, mapper).
		Watches(&corev1.Secret{}, mapper, builder.OnlyMetadata)
}

// watchPools has a controller look again at the resources of a namespace
// when a PrefectWorkPool there makes or loses its pool on the server: they
// may be waiting on it.
func (w *WorkPlane) watchPools(b *builder.Builder, newList func() client.ObjectList) *builder.Builder {
	poolMoved := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		old, ok1 := e.ObjectOld.(*v1alpha1.PrefectWorkPool)
		cur, ok2 := e.ObjectNew.(*v1alpha1.PrefectWorkPool)
		return ok1 && ok2 && old.Status.PoolID != cur.Status.PoolID
	}}
	return b.Watches(&v1alpha1.PrefectWorkPool{}, handler.EnqueueRequestsFromMapFunc(w.inNamespace(newList)),
		builder.WithPredicates(poolMoved))
}

// watchDeployments has a controller look again at the resources of a
// namespace when a PrefectDeployment there makes or loses its deployment
// on the server: they may be waiting on it.
func (w *WorkPlane) watchDeployments(b *builder.Builder, newList func() client.ObjectList) *builder.Builder {
	deploymentMoved := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		old, ok1 := e.ObjectOld.(*v1alpha1.PrefectDeployment)
		cur, ok2 := e.ObjectNew.(*v1alpha1.PrefectDeployment)
		return ok1 && ok2 && old.Status.DeploymentID != cur.Status.DeploymentID
	}}
	return b.Watches(&v1alpha1.PrefectDeployment{}, handler.EnqueueRequestsFromMapFunc(w.inNamespace(newList)),
		builder.WithPredicates(deploymentMoved))
}

// inNamespace maps an object to the resources newList lists in its namespace.
func (w *WorkPlane) inNamespace(newList func() client.ObjectList) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		list := newList()
		if err := w.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
			return nil
		}
		var out []reconcile.Request
		_ = meta.EachListItem(list, func(item runtime.Object) error {
			if obj, ok := item.(client.Object); ok {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
			}
			return nil
		})
		return out
	}
}
