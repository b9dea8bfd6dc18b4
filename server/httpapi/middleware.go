package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

// middleware wraps the routes with what applies to every request, outermost
// first: the access log, CORS, panic recovery, trailing-slash tolerance and
// the body limit. Auth, the API-version gate and CSRF apply to the API's
// routes (routes.go). CORS sits around the API and the UI alike, and
// outside recovery so that a 500 carries its headers, as in Prefect.
func (a *API) middleware(next http.Handler) http.Handler {
	h := a.limitBody(next)
	h = stripTrailingSlash(strings.TrimSuffix(a.settings.API.BasePath, "/"), h)
	return a.accessLog(CORS(a.settings.API, a.recover(h)))
}

func (a *API) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeMessage(w, http.StatusInternalServerError, "exception_message", "Internal Server Error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// stripTrailingSlash serves an API path with a trailing slash as without
// one, as Prefect's clients send both. Paths outside the base path keep
// theirs: the UI redirects /v2 to /v2/ and serves index.html there.
func stripTrailingSlash(base string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if len(p) > 1 && strings.HasSuffix(p, "/") && (base == "" || strings.HasPrefix(p, base+"/")) {
			r.URL.Path = strings.TrimRight(p, "/")
			if r.URL.RawPath != "" {
				r.URL.RawPath = strings.TrimRight(r.URL.RawPath, "/")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody answers 413 for a body over PREFECT_SERVER_API_MAX_BODY_SIZE:
// at once when Content-Length says so, otherwise when reading passes it.
func (a *API) limitBody(next http.Handler) http.Handler {
	limit := a.settings.API.MaxBodySize
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limit > 0 {
			if r.ContentLength > limit {
				writeError(w, r, a.log, tooLarge(limit))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate enforces PREFECT_SERVER_API_AUTH_STRING on every request
// to the API, except what the route table opens (routes.go): GET probes,
// and WebSocket upgrades on socket routes, which authenticate in their own
// handshake. The exemption is decided by the route a request matches in
// mux, never by a header alone, so no header opens a private route.
func (a *API) authenticate(mux *http.ServeMux, accessOf map[string]access, next http.Handler) http.Handler {
	want := a.settings.API.AuthString
	if want == "" {
		return next
	}
	expected := []byte("Basic " + base64.StdEncoding.EncodeToString([]byte(want)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		noteRoute(r, pattern)
		switch accessOf[pattern] {
		case accessProbe:
			next.ServeHTTP(w, r)
			return
		case accessSocket:
			if IsWebSocketUpgrade(r) {
				next.ServeHTTP(w, r)
				return
			}
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), expected) != 1 {
			writeMessage(w, http.StatusUnauthorized, "exception_message", "Unauthorized")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// IsWebSocketUpgrade reports whether r asks to open a WebSocket (RFC 6455
// 4.1: a GET with Upgrade: websocket and Connection: upgrade).
func IsWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Upgrade", "websocket") &&
		headerHasToken(r.Header, "Connection", "upgrade")
}

// headerHasToken reports whether a comma-separated header holds token,
// case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// apiVersionGate rejects clients older than API 0.8.0, as Prefect does; a
// missing header is accepted.
func (a *API) apiVersionGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("X-Prefect-Api-Version"); v != "" {
			parts, ok := parseVersion(v)
			if !ok {
				writeMessage(w, http.StatusBadRequest, "detail", "Invalid X-PREFECT-API-VERSION header format.")
				return
			}
			if compareVersion(parts, [3]int{0, 8, 0}) < 0 {
				writeMessage(w, http.StatusBadRequest, "detail", "The request specified API version "+v+
					" but this server requires version 0.8.0 or higher.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

func compareVersion(a, b [3]int) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// internalKey marks a request the server makes of itself, in process.
type internalKey struct{}

// Internal marks ctx as the server's own request (an automation's action):
// no browser sends it, so it needs no CSRF token. A context value, unlike
// a header, cannot come from outside the process.
func Internal(ctx context.Context) context.Context {
	return context.WithValue(ctx, internalKey{}, true)
}

// csrf enforces CSRF tokens on state-changing requests when
// PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED is set.
func (a *API) csrf(next http.Handler) http.Handler {
	if !a.settings.API.CSRFProtectionEnabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(internalKey{}) != nil {
			next.ServeHTTP(w, r)
			return
		}
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			next.ServeHTTP(w, r)
			return
		}
		token, client := r.Header.Get("Prefect-Csrf-Token"), r.Header.Get("Prefect-Csrf-Client")
		if token == "" {
			writeMessage(w, http.StatusForbidden, "detail", "Missing CSRF token.")
			return
		}
		if client == "" {
			writeMessage(w, http.StatusForbidden, "detail", "Missing client identifier.")
			return
		}
		stored, err := a.store.ReadCSRFToken(r.Context(), client)
		if err != nil || subtle.ConstantTimeCompare([]byte(stored.Token), []byte(token)) != 1 || !stored.Expiration.After(a.clock()) {
			writeMessage(w, http.StatusForbidden, "detail", "Invalid CSRF token or client identifier.")
			return
		}
		next.ServeHTTP(w, r)
	})
}
