package httpapi

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"prefectgo.dev/prefectgo/server/settings"
)

// Prefect wraps its whole app, API and UI, in Starlette's CORSMiddleware
// (prefect/server/api/server.py), with the three CORS settings split on
// commas and Starlette's defaults for the rest: no credentials, no exposed
// headers, no private network access, a max age of 600. corsPolicy is that
// middleware as Starlette 1.10 (what prefect 3.9.1 installs with) writes
// it, header for header.

// corsAllMethods is what "*" among the methods stands for.
var corsAllMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY"}

// corsSafelisted headers are allowed whatever the setting says.
var corsSafelisted = []string{"Accept", "Accept-Language", "Content-Language", "Content-Type"}

type corsPolicy struct {
	allOrigins bool
	origins    []string
	methods    []string
	allHeaders bool
	headers    []string // lower-cased, for matching
	// preflight holds the headers every preflight answer carries.
	preflight http.Header
}

// newCORSPolicy builds the policy from the settings' values. Entries are
// not trimmed, as Prefect splits them: " https://b.example" never matches
// an Origin, and "*" counts only as an entry of its own.
func newCORSPolicy(origins, methods, headers string) corsPolicy {
	p := corsPolicy{
		origins: strings.Split(origins, ","),
		methods: strings.Split(methods, ","),
	}
	p.allOrigins = slices.Contains(p.origins, "*")
	if slices.Contains(p.methods, "*") {
		p.methods = corsAllMethods
	}
	requested := strings.Split(headers, ",")
	p.allHeaders = slices.Contains(requested, "*")
	allowed := slices.Compact(slices.Sorted(slices.Values(slices.Concat(requested, corsSafelisted))))
	for _, h := range allowed {
		p.headers = append(p.headers, strings.ToLower(h))
	}

	p.preflight = http.Header{}
	p.preflight.Set("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network")
	// Without credentials a preflight names the origin only when a list
	// decides it; with "*" every answer says "*".
	if p.allOrigins {
		p.preflight.Set("Access-Control-Allow-Origin", "*")
	}
	p.preflight.Set("Access-Control-Allow-Methods", strings.Join(p.methods, ", "))
	p.preflight.Set("Access-Control-Max-Age", "600")
	if !p.allHeaders {
		p.preflight.Set("Access-Control-Allow-Headers", strings.Join(allowed, ", "))
	}
	return p
}

// CORS answers preflights itself and adds CORS headers to every other
// response of next, as Prefect's CORSMiddleware does around its whole app.
// WebSocket upgrades pass untouched, as Starlette leaves WebSocket scopes.
func CORS(s settings.APISettings, next http.Handler) http.Handler {
	p := newCORSPolicy(s.CORSAllowedOrigins, s.CORSAllowedMethods, s.CORSAllowedHeaders)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsWebSocketUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		origin, hasOrigin := firstValue(r.Header, "Origin")
		if _, asks := r.Header["Access-Control-Request-Method"]; hasOrigin && asks && r.Method == http.MethodOptions {
			// Answered here, before auth, CSRF and routing: a browser sends
			// no credentials on a preflight.
			p.answerPreflight(w, r, origin)
			return
		}
		cw := &corsWriter{ResponseWriter: w, policy: &p, origin: origin, hasOrigin: hasOrigin}
		next.ServeHTTP(cw, r)
		// A handler that wrote nothing is answered 200 after it returns,
		// with the headers as they are then.
		cw.addHeaders()
	})
}

// firstValue is the first value of a header, as Starlette reads one, and
// whether it was sent at all (an empty Origin is still an Origin to it).
func firstValue(h http.Header, name string) (string, bool) {
	v, ok := h[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func (p *corsPolicy) allowsOrigin(origin string) bool {
	return p.allOrigins || slices.Contains(p.origins, origin)
}

func (p *corsPolicy) answerPreflight(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	for k, v := range p.preflight {
		h[k] = slices.Clone(v)
	}
	var failures []string
	if !p.allowsOrigin(origin) {
		failures = append(failures, "origin")
	} else if !p.allOrigins {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	method, _ := firstValue(r.Header, "Access-Control-Request-Method")
	if !slices.Contains(p.methods, method) {
		failures = append(failures, "method")
	}
	if requested, ok := firstValue(r.Header, "Access-Control-Request-Headers"); ok {
		if p.allHeaders {
			h.Set("Access-Control-Allow-Headers", requested)
		} else {
			for name := range strings.SplitSeq(requested, ",") {
				if !slices.Contains(p.headers, strings.TrimSpace(strings.ToLower(name))) {
					failures = append(failures, "headers")
					break
				}
			}
		}
	}
	if _, ok := r.Header["Access-Control-Request-Private-Network"]; ok {
		failures = append(failures, "private-network")
	}

	status, body := http.StatusOK, "OK"
	if len(failures) > 0 {
		// Starlette's 400 is for people reading it; browsers go by the
		// headers.
		status, body = http.StatusBadRequest, "Disallowed CORS "+strings.Join(failures, ", ")
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// corsWriter adds the CORS headers when the response's headers go out.
type corsWriter struct {
	http.ResponseWriter
	policy    *corsPolicy
	origin    string
	hasOrigin bool
	done      bool
}

func (w *corsWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *corsWriter) WriteHeader(code int) {
	w.addHeaders()
	w.ResponseWriter.WriteHeader(code)
}

func (w *corsWriter) Write(b []byte) (int, error) {
	w.addHeaders()
	return w.ResponseWriter.Write(b)
}

func (w *corsWriter) addHeaders() {
	if w.done {
		return
	}
	w.done = true
	h := w.Header()
	switch {
	case w.hasOrigin && w.policy.allOrigins:
		h.Set("Access-Control-Allow-Origin", "*")
	case w.hasOrigin && w.policy.allowsOrigin(w.origin):
		h.Set("Access-Control-Allow-Origin", w.origin)
	}
	// Every response varies by Origin, with or without one in the request
	// (Starlette's else branch): a cache must not hand an answer made
	// without an Origin to a request with one. Starlette joins it to the
	// response's own Vary in one header.
	h["Vary"] = []string{strings.Join(append(slices.Clone(h.Values("Vary")), "Origin"), ", ")}
}
