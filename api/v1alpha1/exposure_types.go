package v1alpha1

import gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

// IngressSpec exposes the server outside the cluster through a
// networking.k8s.io/v1 Ingress to its Service. The Ingress routes every path
// of host ("/", Prefix) to the Service: the server answers the web UI at
// ui.serveBase and the API at /api on the same host, and the UI calls the API
// by a URL relative to the page (see ui.apiURL), so the UI, the API and its
// WebSockets all work through the one rule.
type IngressSpec struct {
	// ClassName is the IngressClass that implements the Ingress; unset means
	// the cluster's default class.
	// +kubebuilder:validation:MinLength=1
	// +optional
	ClassName *string `json:"className,omitempty"`
	// Host is the DNS name browsers and clients use, such as
	// prefect.example.com: lowercase, without a wildcard, a port or a path.
	// status.uiUrl is https://<host>/ with tls, else http://<host>/, and
	// clients outside the cluster set PREFECT_API_URL to that URL's /api.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?([.][a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$')",message="host must be a DNS name such as prefect.example.com: lowercase letters, digits, '-' and '.', labels of at most 63 characters, no wildcard, port or path"
	// +required
	Host string `json:"host"`
	// TLS terminates HTTPS for host at the Ingress. Unset means plain HTTP
	// (or TLS terminated in front of the ingress controller: the UI works
	// either way, since its API URL is relative; only status.uiUrl says http).
	// +optional
	TLS *IngressTLS `json:"tls,omitempty"`
	// Annotations of the Ingress: the ingress controller's settings, or
	// cert-manager's issuer (cert-manager.io/cluster-issuer), which then
	// writes the certificate into tls.secretName.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// IngressTLS is the certificate of an Ingress's host.
type IngressTLS struct {
	// SecretName is the kubernetes.io/tls Secret holding the certificate and
	// key for the host, in the PrefectServer's namespace. Unset means the
	// ingress controller's default certificate.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SecretName string `json:"secretName,omitempty"`
}

// HTTPRouteSpec exposes the server through a Gateway API HTTPRoute
// (gateway.networking.k8s.io/v1) attached to an existing Gateway, routing
// every path ("/", PathPrefix) to the Service. The Gateway API's CRDs must be
// installed in the cluster; while they are not, the operator creates every
// other child, reports Exposed=False (GatewayAPINotInstalled) and tries
// again every few minutes. The operator creates no Gateway.
type HTTPRouteSpec struct {
	// ParentRefs are the Gateways (or Gateway listeners, by sectionName) the
	// route attaches to. A Gateway in another namespace must allow routes
	// from this one (its listeners' allowedRoutes).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +required
	ParentRefs []gatewayv1.ParentReference `json:"parentRefs"`
	// Hostnames the route answers, as the Gateway API defines them (a
	// leading "*." label is a wildcard). Unset means every hostname of the
	// listeners it attaches to. status.uiUrl is https://<the first hostname
	// without a wildcard>/, the scheme assumed since a Gateway listener
	// usually terminates TLS; with none, status.uiUrl is the Service's URL.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Hostnames []gatewayv1.Hostname `json:"hostnames,omitempty"`
	// Annotations of the HTTPRoute.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}
