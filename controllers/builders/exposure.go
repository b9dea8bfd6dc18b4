package builders

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// rootPath is the one path an Ingress or HTTPRoute routes: the whole host,
// since the server answers the UI at ui.serveBase and the API at /api.
const rootPath = "/"

// Ingress routes every path of spec.ingress.host to the API's Service, over
// HTTPS when spec.ingress.tls is set; nil when the spec asks for none.
func Ingress(ps *v1alpha1.PrefectServer) *networkingv1.Ingress {
	spec := ps.Spec.Ingress
	if spec == nil {
		return nil
	}
	ing := &networkingv1.Ingress{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{
			Name: IngressName(ps), Namespace: ps.Namespace, Labels: Labels(ps),
			Annotations: maps.Clone(spec.Annotations),
		},
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: spec.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     rootPath,
						PathType: new(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: ServiceName(ps), Port: networkingv1.ServiceBackendPort{Name: PortName},
						}},
					}},
				}},
			}},
		},
	}
	if spec.ClassName != nil {
		ing.Spec.IngressClassName = new(*spec.ClassName)
	}
	if spec.TLS != nil {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{spec.Host}, SecretName: spec.TLS.SecretName}}
	}
	return ing
}

// HTTPRoute attaches to spec.httpRoute's Gateways and routes every path of
// its hostnames to the API's Service; nil when the spec asks for none.
func HTTPRoute(ps *v1alpha1.PrefectServer) *gatewayv1.HTTPRoute {
	spec := ps.Spec.HTTPRoute
	if spec == nil {
		return nil
	}
	parents := make([]gatewayv1.ParentReference, len(spec.ParentRefs))
	for i := range spec.ParentRefs {
		spec.ParentRefs[i].DeepCopyInto(&parents[i])
	}
	return &gatewayv1.HTTPRoute{
		TypeMeta: metav1.TypeMeta{APIVersion: gatewayv1.GroupVersion.String(), Kind: "HTTPRoute"},
		ObjectMeta: metav1.ObjectMeta{
			Name: HTTPRouteName(ps), Namespace: ps.Namespace, Labels: Labels(ps),
			Annotations: maps.Clone(spec.Annotations),
		},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: parents},
			Hostnames:       slices.Clone(spec.Hostnames),
			Rules: []gatewayv1.HTTPRouteRule{{
				Matches: []gatewayv1.HTTPRouteMatch{{
					Path: &gatewayv1.HTTPPathMatch{Type: new(gatewayv1.PathMatchPathPrefix), Value: new(rootPath)},
				}},
				BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
					BackendObjectReference: gatewayv1.BackendObjectReference{
						Name: gatewayv1.ObjectName(ServiceName(ps)),
						Port: new(gatewayv1.PortNumber(servicePort(ps))),
					},
				}}},
			}},
		},
	}
}

// UIURL is where a browser opens the web UI (status.uiUrl): the Ingress's
// URL, else the HTTPRoute's, else the Service's, which only pods resolve.
func UIURL(ps *v1alpha1.PrefectServer) string {
	if u := ExternalURL(ps); u != "" {
		return u + uiPath(ps)
	}
	return serviceOrigin(ps) + uiPath(ps)
}

// ExternalURL is the origin (scheme and host) at which the server is
// exposed outside the cluster: the Ingress's host (https with TLS), else
// the HTTPRoute's first hostname without a wildcard (https: a Gateway
// listener usually terminates TLS); "" when neither names a host.
func ExternalURL(ps *v1alpha1.PrefectServer) string {
	if ing := ps.Spec.Ingress; ing != nil {
		scheme := "http://"
		if ing.TLS != nil {
			scheme = "https://"
		}
		return scheme + ing.Host
	}
	if route := ps.Spec.HTTPRoute; route != nil {
		for _, h := range route.Hostnames {
			if !strings.HasPrefix(string(h), "*") {
				return "https://" + string(h)
			}
		}
	}
	return ""
}

// UIAPIURL is the API URL the UI's pages call (PREFECT_SERVER_UI_API_URL):
// spec.ui.apiURL, else the API's path alone, which the browser resolves
// against the page's own origin, so the UI works through any route to the
// server (Ingress, HTTPRoute, port-forward, NodePort) with no setting.
func UIAPIURL(ps *v1alpha1.PrefectServer) string {
	if u := ps.Spec.UI.APIURL; u != "" {
		return u
	}
	return APIBasePath
}

// uiPath is the V1 UI's path with a trailing slash: the path that opens the
// UI the browser last chose, or the default one.
func uiPath(ps *v1alpha1.PrefectServer) string {
	base := strings.Trim(ps.Spec.UI.ServeBase, "/")
	if base == "" {
		return "/"
	}
	return "/" + base + "/"
}

func serviceOrigin(ps *v1alpha1.PrefectServer) string {
	return "http://" + ServiceName(ps) + "." + ps.Namespace + ".svc:" + strconv.Itoa(int(servicePort(ps)))
}
