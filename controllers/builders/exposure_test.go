package builders

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

func withIngress(ing *v1alpha1.IngressSpec) func(*v1alpha1.PrefectServerSpec) {
	return func(s *v1alpha1.PrefectServerSpec) { s.Ingress = ing }
}

func withHTTPRoute(route *v1alpha1.HTTPRouteSpec) func(*v1alpha1.PrefectServerSpec) {
	return func(s *v1alpha1.PrefectServerSpec) { s.HTTPRoute = route }
}

// TestIngressSampleRenders renders the ingress sample's Ingress, as the
// reconciler applies it (before owner references), in full.
func TestIngressSampleRenders(t *testing.T) {
	t.Parallel()
	ps := loadSample(t, "prefectgo_v1alpha1_prefectserver_ingress.yaml").server
	got, err := yaml.Marshal(Ingress(ps))
	require.NoError(t, err)
	require.YAMLEq(t, `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: prefect-ingress
  namespace: ns
  annotations:
    cert-manager.io/cluster-issuer: letsencrypt
  labels:
    app.kubernetes.io/component: server
    app.kubernetes.io/instance: prefect-ingress
    app.kubernetes.io/managed-by: prefectgo-operator
    app.kubernetes.io/name: prefect-server
    app.kubernetes.io/part-of: prefect
spec:
  tls:
  - hosts: [prefect.example.com]
    secretName: prefect-ingress-tls
  rules:
  - host: prefect.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: prefect-ingress
            port:
              name: http
status:
  loadBalancer: {}
`, string(got))
	require.Equal(t, "https://prefect.example.com/", UIURL(ps))
	require.Equal(t, "http://prefect-ingress.ns.svc:4200/api", APIURL(ps), "pods keep the Service")
	require.Nil(t, HTTPRoute(ps))
}

func TestIngress(t *testing.T) {
	t.Parallel()
	require.Nil(t, Ingress(newServer(t, nil)), "no spec.ingress, no Ingress")

	ps := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.Service.Port = new(int32(80))
		s.Ingress = &v1alpha1.IngressSpec{
			ClassName:   new("traefik"),
			Host:        "prefect.internal",
			Annotations: map[string]string{"a": "b"},
		}
	})
	ing := Ingress(ps)
	require.Equal(t, metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"}, ing.TypeMeta)
	require.Equal(t, "prefect", ing.Name)
	require.Equal(t, Labels(ps), ing.Labels)
	require.Equal(t, "traefik", *ing.Spec.IngressClassName)
	require.Empty(t, ing.Spec.TLS, "no tls, plain HTTP")
	require.Len(t, ing.Spec.Rules, 1)
	path := ing.Spec.Rules[0].HTTP.Paths[0]
	require.Equal(t, "/", path.Path)
	require.Equal(t, networkingv1.PathTypePrefix, *path.PathType)
	// The backend is the Service's port by name, whatever its number.
	svc := Service(ps)
	require.Equal(t, svc.Name, path.Backend.Service.Name)
	require.Equal(t, svc.Spec.Ports[0].Name, path.Backend.Service.Port.Name)
	require.Equal(t, "http://prefect.internal/", UIURL(ps))

	// The builder copies: editing its output leaves the spec alone.
	ing.Annotations["a"] = "changed"
	*ing.Spec.IngressClassName = "changed"
	require.Equal(t, "b", ps.Spec.Ingress.Annotations["a"])
	require.Equal(t, "traefik", *ps.Spec.Ingress.ClassName)

	// TLS without a Secret: the controller's default certificate.
	ps.Spec.Ingress.TLS = &v1alpha1.IngressTLS{}
	require.Equal(t, []networkingv1.IngressTLS{{Hosts: []string{"prefect.internal"}}}, Ingress(ps).Spec.TLS)
	require.Equal(t, "https://prefect.internal/", UIURL(ps))
}

func TestHTTPRoute(t *testing.T) {
	t.Parallel()
	require.Nil(t, HTTPRoute(newServer(t, nil)), "no spec.httpRoute, no HTTPRoute")

	ps := newServer(t, withHTTPRoute(&v1alpha1.HTTPRouteSpec{
		ParentRefs: []gatewayv1.ParentReference{
			{Name: "public", Namespace: new(gatewayv1.Namespace("gateways")), SectionName: new(gatewayv1.SectionName("https"))},
		},
		Hostnames:   []gatewayv1.Hostname{"*.example.com", "prefect.example.com"},
		Annotations: map[string]string{"a": "b"},
	}))
	route := HTTPRoute(ps)
	require.Equal(t, metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "HTTPRoute"}, route.TypeMeta)
	require.Equal(t, "prefect", route.Name)
	require.Equal(t, "ns", route.Namespace)
	require.Equal(t, Labels(ps), route.Labels)
	require.Equal(t, map[string]string{"a": "b"}, route.Annotations)
	require.Equal(t, ps.Spec.HTTPRoute.ParentRefs, route.Spec.ParentRefs)
	require.Equal(t, ps.Spec.HTTPRoute.Hostnames, route.Spec.Hostnames)
	require.Len(t, route.Spec.Rules, 1)
	rule := route.Spec.Rules[0]
	require.Equal(t, []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{
		Type: new(gatewayv1.PathMatchPathPrefix), Value: new("/"),
	}}}, rule.Matches)
	require.Len(t, rule.BackendRefs, 1)
	backend := rule.BackendRefs[0].BackendObjectReference
	require.Equal(t, gatewayv1.ObjectName(Service(ps).Name), backend.Name)
	require.Equal(t, gatewayv1.PortNumber(Service(ps).Spec.Ports[0].Port), *backend.Port)
	require.Nil(t, backend.Kind, "a Service, the API server's default")

	// The builder copies.
	*route.Spec.ParentRefs[0].Namespace = "changed"
	route.Spec.Hostnames[0] = "changed.example.com"
	require.Equal(t, gatewayv1.Namespace("gateways"), *ps.Spec.HTTPRoute.ParentRefs[0].Namespace)
	require.Equal(t, gatewayv1.Hostname("*.example.com"), ps.Spec.HTTPRoute.Hostnames[0])
}

// TestUIURL: status.uiUrl is the first external URL the spec gives, else
// the Service's; the UI's own API URL is relative in every case.
func TestUIURL(t *testing.T) {
	t.Parallel()
	gateway := []gatewayv1.ParentReference{{Name: "gw"}}
	for _, c := range []struct {
		name string
		edit func(*v1alpha1.PrefectServerSpec)
		want string
	}{
		{"the Service", nil, "http://prefect.ns.svc:4200/"},
		{"the Service on its port, under the serve base", func(s *v1alpha1.PrefectServerSpec) {
			s.Service.Port = new(int32(80))
			s.UI.ServeBase = "prefect/"
		}, "http://prefect.ns.svc:80/prefect/"},
		{"an Ingress without TLS", withIngress(&v1alpha1.IngressSpec{Host: "p.example"}), "http://p.example/"},
		{"an Ingress with TLS, under the serve base", func(s *v1alpha1.PrefectServerSpec) {
			s.Ingress = &v1alpha1.IngressSpec{Host: "p.example", TLS: &v1alpha1.IngressTLS{SecretName: "tls"}}
			s.UI.ServeBase = "/prefect"
		}, "https://p.example/prefect/"},
		{"an HTTPRoute's first precise hostname", withHTTPRoute(&v1alpha1.HTTPRouteSpec{
			ParentRefs: gateway, Hostnames: []gatewayv1.Hostname{"*.example", "a.example", "b.example"},
		}), "https://a.example/"},
		{"an HTTPRoute of wildcards only", withHTTPRoute(&v1alpha1.HTTPRouteSpec{
			ParentRefs: gateway, Hostnames: []gatewayv1.Hostname{"*.example"},
		}), "http://prefect.ns.svc:4200/"},
		{"an HTTPRoute without hostnames", withHTTPRoute(&v1alpha1.HTTPRouteSpec{ParentRefs: gateway}),
			"http://prefect.ns.svc:4200/"},
		{"both: the Ingress", func(s *v1alpha1.PrefectServerSpec) {
			s.Ingress = &v1alpha1.IngressSpec{Host: "ingress.example"}
			s.HTTPRoute = &v1alpha1.HTTPRouteSpec{ParentRefs: gateway, Hostnames: []gatewayv1.Hostname{"route.example"}}
		}, "http://ingress.example/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ps := newServer(t, c.edit)
			require.Equal(t, c.want, UIURL(ps))
			env := ServerEnv(ps)
			got, ok := envValue(env, "PREFECT_SERVER_UI_API_URL")
			require.True(t, ok)
			require.Equal(t, "/api", got)
			s, err := load(resolveEnv(t, env, nil))
			require.NoError(t, err)
			require.Equal(t, "/api", s.UI.APIURL)
		})
	}
}

// TestUIAPIURL: spec.ui.apiURL wins over the derived URL, and extraEnv
// over both.
func TestUIAPIURL(t *testing.T) {
	t.Parallel()
	ps := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.Ingress = &v1alpha1.IngressSpec{Host: "p.example"}
		s.UI.APIURL = "https://api.example/api"
	})
	env := ServerEnv(ps)
	require.Equal(t, []string{"https://api.example/api"}, envValues(env, "PREFECT_SERVER_UI_API_URL"))

	ps.Spec.ExtraEnv = append(ps.Spec.ExtraEnv, envVarOf("PREFECT_SERVER_UI_API_URL", "http://other/api"))
	require.Equal(t, []string{"http://other/api"}, envValues(ServerEnv(ps), "PREFECT_SERVER_UI_API_URL"))

	ps.Spec.UI.APIURL, ps.Spec.ExtraEnv = "", nil
	require.Equal(t, []string{"/api"}, envValues(ServerEnv(ps), "PREFECT_SERVER_UI_API_URL"))
}

func envVarOf(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

// envValues is every value of the variable name in env, in order.
func envValues(env []corev1.EnvVar, name string) []string {
	var out []string
	for _, e := range env {
		if e.Name == name {
			out = append(out, e.Value)
		}
	}
	return out
}
