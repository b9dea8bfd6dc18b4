package controllers

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// optionalKind is a kind an add-on's CRDs bring (the Gateway API's
// HTTPRoute, the prometheus-operator's monitors and rules), which a cluster
// may lack: the operator must run without it, so the kind is watched from the
// first time the operator finds it (at start, or when it first applies one),
// not declared with Owns(), which would keep the manager from starting.
type optionalKind struct {
	watch func() error
	// synced waits until the kind's informer has listed what exists: a
	// watch started by a pass is otherwise not yet looking, and an object
	// deleted just after that pass would never be seen to go.
	synced func(context.Context) error

	mu       sync.Mutex
	watching bool
}

// newOptionalKind prepares the watch on obj's kind (children the
// PrefectServer controls) and starts it now if the cluster serves the kind.
func newOptionalKind[T client.Object](mgr ctrl.Manager, c controller.Controller, obj T, gvk schema.GroupVersionKind) (*optionalKind, error) {
	k := &optionalKind{
		watch: func() error {
			return c.Watch(source.Kind(mgr.GetCache(), obj,
				handler.TypedEnqueueRequestForOwner[T](mgr.GetScheme(), mgr.GetRESTMapper(),
					&v1alpha1.PrefectServer{}, handler.OnlyControllerOwner())))
		},
		// GetInformer blocks until the informer has synced (or ctx ends).
		synced: func(ctx context.Context) error {
			_, err := mgr.GetCache().GetInformer(ctx, obj)
			return err
		},
	}
	_, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	switch {
	case err == nil:
		return k, k.found()
	case meta.IsNoMatchError(err):
		return k, nil // the first one applied starts the watch
	default:
		return nil, fmt.Errorf("look up %s: %w", gvk.Kind, err)
	}
}

// found starts the watch, once.
func (k *optionalKind) found() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.watching {
		return nil
	}
	if err := k.watch(); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	k.watching = true
	return nil
}

// installed reports whether the kind was found (and is watched). Until
// then no object of ours of that kind can exist, so none needs deleting.
func (k *optionalKind) installed() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.watching
}

// applyOptional applies obj, of an optional kind; missing reports that the
// cluster does not serve the kind (not an error). Once applied, the kind is
// watched and its informer synced.
func (r *PrefectServerReconciler) applyOptional(ctx context.Context, ps *v1alpha1.PrefectServer, k *optionalKind, obj client.Object) (missing bool, err error) {
	err = r.apply(ctx, ps, obj, owned)
	switch {
	case meta.IsNoMatchError(err):
		return true, nil
	case err != nil:
		return false, err
	}
	if err := k.found(); err != nil {
		return false, fmt.Errorf("%T: %w", obj, err)
	}
	if err := k.synced(ctx); err != nil {
		return false, fmt.Errorf("sync the watch on %T: %w", obj, err)
	}
	return false, nil
}

// deleteOptional deletes the named child of an optional kind if the
// PrefectServer controls it; nothing to do while the kind was never found.
func (r *PrefectServerReconciler) deleteOptional(ctx context.Context, ps *v1alpha1.PrefectServer, k *optionalKind, obj client.Object, name string) error {
	if !k.installed() {
		return nil
	}
	return r.deleteControlled(ctx, ps, obj, name)
}
