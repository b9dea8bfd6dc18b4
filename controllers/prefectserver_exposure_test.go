package controllers

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
)

// TestIngress: an Ingress follows spec.ingress (created, its host and TLS
// changed, re-created when deleted by hand, deleted when the spec drops
// it) without rolling the pods, and the status points at it.
func TestIngress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Ingress = &v1alpha1.IngressSpec{Host: "a.example", Annotations: map[string]string{"x": "1"}}
	})

	ing := b.waitForIngress(t, ps, func(ing *networkingv1.Ingress) bool { return len(ing.Spec.Rules) == 1 })
	require.True(t, metav1.IsControlledBy(ing, ps), "owned, so it goes with the PrefectServer")
	require.Equal(t, "a.example", ing.Spec.Rules[0].Host)
	require.Equal(t, builders.ServiceName(ps), ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
	require.Equal(t, map[string]string{"x": "1"}, ing.Annotations)
	require.Empty(t, ing.Spec.TLS)
	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionExposed, metav1.ConditionTrue, ReasonRoutesApplied)
	require.Equal(t, "http://a.example/", got.Status.UIURL)
	require.Equal(t, "http://prefect."+b.ns+".svc:4200/api", got.Status.URL, "pods keep the Service")
	dep := b.waitForDeployment(t, ps, nil)
	require.Equal(t, "/api", envValue(dep, settingEnv(t, "ui.api_url")))
	hash := dep.Spec.Template.Annotations[builders.ConfigHashAnnotation]

	// A new host, with TLS.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Ingress.Host = "b.example"
		ps.Spec.Ingress.TLS = &v1alpha1.IngressTLS{SecretName: "b-tls"}
	})
	ing = b.waitForIngress(t, ps, func(ing *networkingv1.Ingress) bool { return ing.Spec.Rules[0].Host == "b.example" })
	require.Equal(t, []networkingv1.IngressTLS{{Hosts: []string{"b.example"}, SecretName: "b-tls"}}, ing.Spec.TLS)
	require.Eventually(t, func() bool { return b.server(t, ps.Name).Status.UIURL == "https://b.example/" }, wait, tick)
	dep = b.waitForDeployment(t, ps, nil)
	require.Equal(t, hash, dep.Spec.Template.Annotations[builders.ConfigHashAnnotation],
		"the UI's API URL is relative: a new host rolls no pod")

	// Deleted by hand: back again.
	uid := ing.UID
	require.NoError(t, b.c.Delete(b.ctx, ing))
	b.waitForIngress(t, ps, func(ing *networkingv1.Ingress) bool { return ing.UID != uid })

	// Dropped from the spec: deleted, and the status is the Service's again.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Ingress = nil })
	b.waitForAbsent(t, builders.IngressName(ps), &networkingv1.Ingress{})
	require.Eventually(t, func() bool {
		got = b.server(t, ps.Name)
		return meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionExposed) == nil
	}, wait, tick, "the Exposed condition outlived the Ingress")
	require.Equal(t, "http://prefect."+b.ns+".svc:4200/", got.Status.UIURL)
}

// TestIngressOfAnotherOwnerIsKept: an Ingress of the same name that this
// PrefectServer does not control is not deleted for want of spec.ingress.
func TestIngressOfAnotherOwnerIsKept(t *testing.T) {
	t.Parallel()
	b := setup(t)
	theirs := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "prefect", Namespace: b.ns},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "other", Port: networkingv1.ServiceBackendPort{Number: 80}},
		}},
	}
	require.NoError(t, b.c.Create(b.ctx, theirs))
	ps := b.create(t, "prefect", nil)
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionBackgroundJobs, metav1.ConditionTrue, ReasonCronJobs)
	require.NoError(t, b.c.Get(b.ctx, client.ObjectKeyFromObject(theirs), theirs))
	require.Empty(t, theirs.OwnerReferences)
}

// TestGatewayAPIInstalledLater runs first, alone (it is not parallel), on
// a control plane without the Gateway API: a PrefectServer that asks for
// an HTTPRoute gets everything else and a condition saying why it has no
// route, without a hot loop; once the CRDs are installed, the route
// follows within MissingAPIRetry, is watched (re-created when deleted) and
// is deleted when the spec drops it. When the CRD is there already (an
// earlier -count run in this process), only that second half runs.
func TestGatewayAPIInstalledLater(t *testing.T) {
	b := setup(t)
	ps := b.create(t, "prefect", func(ps *v1alpha1.PrefectServer) {
		ps.Spec.HTTPRoute = &v1alpha1.HTTPRouteSpec{
			ParentRefs: []gatewayv1.ParentReference{{Name: "public", Namespace: new(gatewayv1.Namespace("gateways"))}},
			Hostnames:  []gatewayv1.Hostname{"prefect.example.com"},
		}
	})

	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	err := b.c.Get(b.ctx, client.ObjectKey{Name: "httproutes.gateway.networking.k8s.io"}, crd)
	if apierrors.IsNotFound(err) {
		got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionExposed, metav1.ConditionFalse, ReasonGatewayAPIMissing)
		requireCondition(t, got, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonGatewayAPIMissing)
		require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionExposed).Message, "install the Gateway API")
		require.Equal(t, "http://prefect."+b.ns+".svc:4200/", got.Status.UIURL, "no route yet: the Service")
		// Everything else is there.
		b.waitFor(t, builders.ServiceName(ps), &corev1.Service{})
		b.waitFor(t, builders.DeploymentName(ps), &appsv1.Deployment{})
		b.waitFor(t, builders.SchedulerCronJobName(ps), &batchv1.CronJob{})
		b.waitForEvent(t, ps, ReasonGatewayAPIMissing)
		// A look every MissingAPIRetry (1s here), not an error's backoff,
		// which starts at milliseconds.
		before := b.env.calls.count(b.ns)
		time.Sleep(3 * time.Second)
		require.LessOrEqual(t, b.env.calls.count(b.ns)-before, 6, "the reconciler loops while the Gateway API is missing")

		_, err := envtest.InstallCRDs(b.env.cfg, envtest.CRDInstallOptions{Paths: []string{httpRouteCRD(t)}})
		require.NoError(t, err)
	} else {
		require.NoError(t, err)
	}

	route := b.waitForHTTPRoute(t, ps, nil)
	require.True(t, metav1.IsControlledBy(route, ps))
	require.Equal(t, []gatewayv1.Hostname{"prefect.example.com"}, route.Spec.Hostnames)
	require.Equal(t, gatewayv1.ObjectName("public"), route.Spec.ParentRefs[0].Name)
	require.Equal(t, gatewayv1.ObjectName(builders.ServiceName(ps)), route.Spec.Rules[0].BackendRefs[0].Name)
	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionExposed, metav1.ConditionTrue, ReasonRoutesApplied)
	require.Equal(t, "https://prefect.example.com/", got.Status.UIURL)
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected)

	// Watched from now on: deleted by hand, it comes back.
	uid := route.UID
	require.NoError(t, b.c.Delete(b.ctx, route))
	b.waitForHTTPRoute(t, ps, func(r *gatewayv1.HTTPRoute) bool { return r.UID != uid })

	// A hostname changes; then the spec drops the route.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) {
		ps.Spec.HTTPRoute.Hostnames = []gatewayv1.Hostname{"flows.example.com"}
	})
	b.waitForHTTPRoute(t, ps, func(r *gatewayv1.HTTPRoute) bool {
		return len(r.Spec.Hostnames) == 1 && r.Spec.Hostnames[0] == "flows.example.com"
	})
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.HTTPRoute = nil })
	b.waitForAbsent(t, builders.HTTPRouteName(ps), &gatewayv1.HTTPRoute{})
	require.Eventually(t, func() bool {
		got = b.server(t, ps.Name)
		return meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionExposed) == nil
	}, wait, tick)
	require.Equal(t, "http://prefect."+b.ns+".svc:4200/", got.Status.UIURL)
}

// httpRouteCRD is the HTTPRoute CRD of the Gateway API release in go.mod,
// from the module's own files.
func httpRouteCRD(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	require.NoError(t, err)
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard", "gateway.networking.k8s.io_httproutes.yaml")
}

// waitForIngress polls until the Ingress of ps exists and satisfies ok.
func (b *testBundle) waitForIngress(t *testing.T, ps *v1alpha1.PrefectServer, ok func(*networkingv1.Ingress) bool) *networkingv1.Ingress {
	t.Helper()
	ing := &networkingv1.Ingress{}
	require.Eventually(t, func() bool {
		err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: builders.IngressName(ps)}, ing)
		return err == nil && (ok == nil || ok(ing))
	}, wait, tick, "the Ingress never got there")
	return ing
}

// waitForHTTPRoute polls until the HTTPRoute of ps exists and satisfies ok.
func (b *testBundle) waitForHTTPRoute(t *testing.T, ps *v1alpha1.PrefectServer, ok func(*gatewayv1.HTTPRoute) bool) *gatewayv1.HTTPRoute {
	t.Helper()
	route := &gatewayv1.HTTPRoute{}
	require.Eventually(t, func() bool {
		err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: builders.HTTPRouteName(ps)}, route)
		return err == nil && (ok == nil || ok(route))
	}, wait, tick, "the HTTPRoute never got there")
	return route
}
