package controllers

import (
	"context"
	"fmt"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
)

// httpRouteKind is the Gateway API kind spec.httpRoute becomes.
var httpRouteKind = schema.GroupVersionKind{
	Group: gatewayv1.GroupVersion.Group, Version: gatewayv1.GroupVersion.Version, Kind: "HTTPRoute",
}

// gatewayAPI records whether the cluster serves HTTPRoutes. The Gateway API
// is an add-on: the operator must run without its CRDs, so HTTPRoutes are
// watched from the first time the operator finds them (at start, or when it
// first applies one), not declared with Owns().
type gatewayAPI struct {
	watch func() error
	// synced waits until the HTTPRoute informer has listed what exists: a
	// watch started by a pass is otherwise not yet looking, and a route
	// deleted just after that pass would never be seen to go.
	synced func(context.Context) error

	mu       sync.Mutex
	watching bool
}

// found starts the watch on HTTPRoutes, once.
func (g *gatewayAPI) found() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.watching {
		return nil
	}
	if err := g.watch(); err != nil {
		return fmt.Errorf("watch HTTPRoutes: %w", err)
	}
	g.watching = true
	return nil
}

// installed reports whether HTTPRoutes were found (and are watched). Until
// then no HTTPRoute of ours can exist, so none needs deleting.
func (g *gatewayAPI) installed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.watching
}

// reconcileExposure applies the Ingress and the HTTPRoute the spec asks for,
// and deletes the ones it no longer asks for. A cluster without the Gateway
// API is not an error: the pass goes on with the rest of the server, the
// status says what is missing, and Reconcile looks again later.
func (r *PrefectServerReconciler) reconcileExposure(ctx context.Context, p *pass) (bool, error) {
	if ing := builders.Ingress(p.ps); ing != nil {
		if err := r.apply(ctx, p.ps, ing, owned); err != nil {
			return false, err
		}
		p.exposedBy = append(p.exposedBy, "Ingress "+ing.Name)
	} else if err := r.deleteControlled(ctx, p.ps, &networkingv1.Ingress{}, builders.IngressName(p.ps)); err != nil {
		return false, err
	}

	if route := builders.HTTPRoute(p.ps); route != nil {
		err := r.apply(ctx, p.ps, route, owned)
		switch {
		case meta.IsNoMatchError(err):
			p.gatewayAPIMissing = true
		case err != nil:
			return false, err
		default:
			if err := r.gateway.found(); err != nil {
				return false, err
			}
			if err := r.gateway.synced(ctx); err != nil {
				return false, fmt.Errorf("sync the HTTPRoute watch: %w", err)
			}
			p.exposedBy = append(p.exposedBy, "HTTPRoute "+route.Name)
		}
	} else if r.gateway.installed() {
		if err := r.deleteControlled(ctx, p.ps, &gatewayv1.HTTPRoute{}, builders.HTTPRouteName(p.ps)); err != nil {
			return false, err
		}
	}
	p.exposureDone = true
	return true, nil
}

// deleteControlled deletes the named child if this PrefectServer controls
// it; one of the same name that it does not control is left alone.
func (r *PrefectServerReconciler) deleteControlled(ctx context.Context, ps *v1alpha1.PrefectServer, obj client.Object, name string) error {
	err := r.Get(ctx, client.ObjectKey{Namespace: ps.Namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %T %s: %w", obj, name, err)
	}
	if !metav1.IsControlledBy(obj, ps) {
		return nil
	}
	return r.deleteChild(ctx, obj)
}
