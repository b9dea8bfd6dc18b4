package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

const (
	uiOrigin      = "http://localhost:4200"
	preflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network"
	allMethods    = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, QUERY"
)

// corsCase is one request from the server's root and what Prefect (Starlette's
// CORSMiddleware) answers to it: the status, every Access-Control-* and Vary
// header, and the body when it is CORS's own.
type corsCase struct {
	name         string
	method, path string
	header       []string // pairs of name and value
	body         string   // sent as JSON when not empty
	status       int
	cors         map[string]string
	reply        string // the whole body, when not empty
}

// corsHeaders are the response's Access-Control-* and Vary headers, their
// values joined with "|" so that two Vary headers differ from one.
func corsHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if k == "Vary" || strings.HasPrefix(k, "Access-Control-") {
			out[k] = strings.Join(v, "|")
		}
	}
	return out
}

func runCORSCases(t *testing.T, s *testServer, cases []corsCase) {
	t.Helper()
	for _, tt := range cases {
		var body *strings.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequestWithContext(t.Context(), tt.method, s.srv.URL+tt.path, body)
		require.NoError(t, err)
		if tt.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(tt.header); i += 2 {
			req.Header.Set(tt.header[i], tt.header[i+1])
		}
		r := s.send(t, req)
		require.Equal(t, tt.status, r.Status, "%s: %s", tt.name, r.Body)
		require.Equal(t, tt.cors, corsHeaders(r.Header), tt.name)
		if tt.reply != "" {
			require.Equal(t, tt.reply, string(r.Body), tt.name)
			require.Equal(t, "text/plain; charset=utf-8", r.Header.Get("Content-Type"), tt.name)
		}
	}
}

func preflight(method string, more ...string) []string {
	return append([]string{"Origin", uiOrigin, "Access-Control-Request-Method", method}, more...)
}

// With Prefect's defaults ("*" for all three settings), every origin, method
// and header is allowed: preflights are answered by the middleware with
// "*", the requested headers mirrored; other requests get "*" when they
// carry an Origin, and every response varies by Origin. Cross-checked
// against prefect server start 3.9.1.
func TestCORSDefaults(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite)
	star := map[string]string{"Access-Control-Allow-Origin": "*", "Vary": "Origin"}
	preflightOK := func(more map[string]string) map[string]string {
		h := map[string]string{
			"Vary":                         preflightVary,
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": allMethods,
			"Access-Control-Max-Age":       "600",
		}
		for k, v := range more {
			h[k] = v
		}
		return h
	}
	runCORSCases(t, s, []corsCase{
		{name: "preflight with headers", method: "OPTIONS", path: "/api/flows/filter",
			header: preflight("POST", "Access-Control-Request-Headers", "content-type, x-prefect-api-version"),
			status: 200, reply: "OK",
			cors: preflightOK(map[string]string{"Access-Control-Allow-Headers": "content-type, x-prefect-api-version"})},
		{name: "preflight of a route that does not exist", method: "OPTIONS", path: "/api/no/such/thing",
			header: preflight("DELETE"), status: 200, reply: "OK", cors: preflightOK(nil)},
		{name: "preflight of the UI's settings", method: "OPTIONS", path: "/ui-settings",
			header: preflight("GET"), status: 200, reply: "OK", cors: preflightOK(nil)},
		{name: "preflight with an empty Origin", method: "OPTIONS", path: "/api/health",
			header: []string{"Origin", "", "Access-Control-Request-Method", "GET"}, status: 200, reply: "OK", cors: preflightOK(nil)},
		{name: "methods are matched exactly", method: "OPTIONS", path: "/api/flows/filter",
			header: preflight("post"), status: 400, reply: "Disallowed CORS method", cors: preflightOK(nil)},
		{name: "private network access is never allowed", method: "OPTIONS", path: "/api/health",
			header: preflight("GET", "Access-Control-Request-Private-Network", "true"),
			status: 400, reply: "Disallowed CORS private-network", cors: preflightOK(nil)},
		{name: "an OPTIONS without a requested method is no preflight", method: "OPTIONS", path: "/api/no/such/thing",
			header: []string{"Origin", uiOrigin}, status: 404, cors: star},
		{name: "no Origin: only Vary", method: "GET", path: "/api/health", status: 200, cors: map[string]string{"Vary": "Origin"}},
		{name: "an Origin", method: "GET", path: "/api/health", header: []string{"Origin", "https://other.example"}, status: 200, cors: star},
		{name: "an Origin and a cookie: still *", method: "GET", path: "/api/health",
			header: []string{"Origin", uiOrigin, "Cookie", "session=1"}, status: 200, cors: star},
		{name: "a POST", method: "POST", path: "/api/flows/filter", body: "{}", header: []string{"Origin", uiOrigin}, status: 200, cors: star},
		{name: "an error", method: "GET", path: "/api/no/such/thing", header: []string{"Origin", uiOrigin}, status: 404, cors: star},
		{name: "the UI's settings", method: "GET", path: "/ui-settings", header: []string{"Origin", uiOrigin}, status: 200, cors: star},
	})
}

// With lists, the origin is named only when it is on the list, a preflight
// fails for each of origin, method and headers that is not, and entries
// are not trimmed: " https://b.example" and " PATCH" match nothing, as in
// Prefect.
func TestCORSLists(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite, func(s *settings.Settings) {
		s.API.CORSAllowedOrigins = "http://localhost:4200, https://b.example,https://c.example"
		s.API.CORSAllowedMethods = "GET,POST, PATCH"
		s.API.CORSAllowedHeaders = "X-Prefect-Api-Version,authorization,x-other"
	})
	preflightHeaders := func(origin string) map[string]string {
		h := map[string]string{
			"Vary":                         preflightVary,
			"Access-Control-Allow-Methods": "GET, POST,  PATCH",
			"Access-Control-Max-Age":       "600",
			"Access-Control-Allow-Headers": "Accept, Accept-Language, Content-Language, Content-Type, X-Prefect-Api-Version, authorization, x-other",
		}
		if origin != "" {
			h["Access-Control-Allow-Origin"] = origin
		}
		return h
	}
	named := func(origin string) map[string]string {
		return map[string]string{"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
	}
	onlyVary := map[string]string{"Vary": "Origin"}
	runCORSCases(t, s, []corsCase{
		{name: "allowed preflight", method: "OPTIONS", path: "/api/flows/filter",
			header: preflight("POST", "Access-Control-Request-Headers", "content-type, x-prefect-api-version"),
			status: 200, reply: "OK", cors: preflightHeaders(uiOrigin)},
		{name: "headers are matched without case or spaces", method: "OPTIONS", path: "/api/flows/filter",
			header: []string{"Origin", "https://c.example", "Access-Control-Request-Method", "POST",
				"Access-Control-Request-Headers", "Authorization ,  x-prefect-api-version,Content-Type"},
			status: 200, reply: "OK", cors: preflightHeaders("https://c.example")},
		{name: "an origin not on the list", method: "OPTIONS", path: "/api/flows/filter",
			header: []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"},
			status: 400, reply: "Disallowed CORS origin", cors: preflightHeaders("")},
		{name: "a spaced entry is no origin", method: "OPTIONS", path: "/api/flows/filter",
			header: []string{"Origin", "https://b.example", "Access-Control-Request-Method", "GET"},
			status: 400, reply: "Disallowed CORS origin", cors: preflightHeaders("")},
		{name: "a spaced entry is no method", method: "OPTIONS", path: "/api/flows/filter",
			header: preflight("PATCH"), status: 400, reply: "Disallowed CORS method", cors: preflightHeaders(uiOrigin)},
		{name: "a header not on the list", method: "OPTIONS", path: "/api/flows/filter",
			header: preflight("GET", "Access-Control-Request-Headers", "X-Other,X-Foo"),
			status: 400, reply: "Disallowed CORS headers", cors: preflightHeaders(uiOrigin)},
		{name: "everything wrong", method: "OPTIONS", path: "/api/version",
			header: []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "BREW", "Access-Control-Request-Headers", "x-bad"},
			status: 400, reply: "Disallowed CORS origin, method, headers", cors: preflightHeaders("")},
		{name: "the UI's settings, preflight", method: "OPTIONS", path: "/ui-settings",
			header: preflight("GET"), status: 200, reply: "OK", cors: preflightHeaders(uiOrigin)},
		{name: "an origin on the list is named", method: "GET", path: "/api/health", header: []string{"Origin", uiOrigin}, status: 200, cors: named(uiOrigin)},
		{name: "the last origin on the list", method: "GET", path: "/api/version", header: []string{"Origin", "https://c.example"}, status: 200, cors: named("https://c.example")},
		{name: "an origin not on the list", method: "GET", path: "/api/health", header: []string{"Origin", "https://evil.example"}, status: 200, cors: onlyVary},
		{name: "a spaced entry", method: "GET", path: "/api/health", header: []string{"Origin", "https://b.example"}, status: 200, cors: onlyVary},
		{name: "no Origin", method: "GET", path: "/api/health", status: 200, cors: onlyVary},
		{name: "the UI's settings", method: "GET", path: "/ui-settings", header: []string{"Origin", uiOrigin}, status: 200, cors: named(uiOrigin)},
	})
}

// With auth on, a preflight is answered without credentials (a browser
// sends none on one), as Prefect's CORSMiddleware answers it before the
// API's auth; the request itself still needs them.
func TestCORSWithAuth(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite, func(s *settings.Settings) { s.API.AuthString = "admin:secret" })
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:secret"))
	star := map[string]string{"Access-Control-Allow-Origin": "*", "Vary": "Origin"}
	runCORSCases(t, s, []corsCase{
		{name: "preflight without credentials", method: "OPTIONS", path: "/api/flows/filter",
			header: preflight("POST", "Access-Control-Request-Headers", "authorization, content-type"),
			status: 200, reply: "OK", cors: map[string]string{
				"Vary":                         preflightVary,
				"Access-Control-Allow-Origin":  "*",
				"Access-Control-Allow-Methods": allMethods,
				"Access-Control-Max-Age":       "600",
				"Access-Control-Allow-Headers": "authorization, content-type",
			}},
		{name: "the request without credentials", method: "POST", path: "/api/flows/filter", body: "{}",
			header: []string{"Origin", uiOrigin}, status: 401, cors: star},
		{name: "an OPTIONS without a requested method needs them", method: "OPTIONS", path: "/api/flows/filter",
			header: []string{"Origin", uiOrigin}, status: 401, cors: star},
		{name: "the request with credentials", method: "POST", path: "/api/flows/filter", body: "{}",
			header: []string{"Origin", uiOrigin, "Authorization", basic}, status: 200, cors: star},
	})
}

// With CSRF protection on, a preflight needs no token (it is an OPTIONS,
// and answered before CSRF); the request needs one. Prefect's CSRF
// middleware sits outside its CORS middleware, so its 403s carry no CORS
// headers (or a bare "*" for a wrong token); here CORS is outermost, and an
// allowed origin can read the refusal.
func TestCORSWithCSRF(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite, func(s *settings.Settings) { s.API.CSRFProtectionEnabled = true })
	token, _ := s.do(t, http.MethodGet, "/csrf-token?client=ui", nil).Object(t)["token"].(string)
	require.NotEmpty(t, token)
	star := map[string]string{"Access-Control-Allow-Origin": "*", "Vary": "Origin"}
	runCORSCases(t, s, []corsCase{
		{name: "preflight without a token", method: "OPTIONS", path: "/api/flows",
			header: preflight("POST", "Access-Control-Request-Headers", "prefect-csrf-token,prefect-csrf-client,content-type"),
			status: 200, reply: "OK", cors: map[string]string{
				"Vary":                         preflightVary,
				"Access-Control-Allow-Origin":  "*",
				"Access-Control-Allow-Methods": allMethods,
				"Access-Control-Max-Age":       "600",
				"Access-Control-Allow-Headers": "prefect-csrf-token,prefect-csrf-client,content-type",
			}},
		{name: "the request without a token", method: "POST", path: "/api/flows", body: `{"name": "f"}`,
			header: []string{"Origin", uiOrigin}, status: 403, cors: star},
		{name: "the request with a token", method: "POST", path: "/api/flows", body: `{"name": "f"}`,
			header: []string{"Origin", uiOrigin, "Prefect-Csrf-Token", token, "Prefect-Csrf-Client", "ui"}, status: 201, cors: star},
	})
}

// A WebSocket upgrade is left alone, as Starlette leaves WebSocket scopes:
// its 101 carries no CORS headers.
func TestCORSLeavesWebSocketsAlone(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite)
	c, res, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(s.URL, "http")+"/events/in",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {s.srv.URL}}})
	require.NoError(t, err)
	defer c.CloseNow()
	require.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
	require.Empty(t, corsHeaders(res.Header))
}
