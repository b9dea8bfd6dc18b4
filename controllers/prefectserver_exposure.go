package controllers

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
		missing, err := r.applyOptional(ctx, p.ps, r.gateway, route)
		switch {
		case err != nil:
			return false, err
		case missing:
			p.gatewayAPIMissing = true
		default:
			p.exposedBy = append(p.exposedBy, "HTTPRoute "+route.Name)
		}
	} else if err := r.deleteOptional(ctx, p.ps, r.gateway, &gatewayv1.HTTPRoute{}, builders.HTTPRouteName(p.ps)); err != nil {
		return false, err
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
