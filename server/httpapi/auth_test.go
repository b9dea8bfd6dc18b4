package httpapi

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/logstream"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
	"prefectgo.dev/prefectgo/server/taskworkers"
)

const authString = "admin:secret"

// authAPI is the API with auth on over a real store, with the real
// WebSocket handlers, so every route of the table is registered.
func authAPI(t *testing.T, open storetest.Opener) (*API, *httptest.Server) {
	t.Helper()
	s := settings.Defaults()
	s.API.AuthString = authString
	st := open(t)
	broker := events.NewBroker()
	ingestor := events.NewIngestor(events.IngestConfig{Publisher: broker})
	a := newAPI(Deps{
		Store:     st,
		Settings:  s,
		Events:    ingestor,
		EventsIn:  events.InHandler(events.InConfig{Ingestor: ingestor, AuthString: s.API.AuthString}),
		EventsOut: events.OutHandler(events.OutConfig{Subscriber: broker, Store: st, AuthString: s.API.AuthString}),
		WorkerChannel: events.WorkerChannelHandler(events.WorkerChannelConfig{Store: st, Changes: events.NewWorkPoolChanges(),
			AuthString: s.API.AuthString}),
		TaskWorkers:  taskworkers.New(taskworkers.Config{Store: st, AuthString: s.API.AuthString}),
		LogsOut:      logstream.OutHandler(logstream.OutConfig{Hub: logstream.NewHub(), AuthString: s.API.AuthString}),
		IngestEvents: ingestor.Ingest,
	})
	srv := httptest.NewServer(a.middleware(a.routes()))
	t.Cleanup(srv.Close)
	return a, srv
}

// TestEveryRouteNeedsAuth walks the route table: every route, with every
// method, answers 401 to a request without valid credentials, whatever
// other headers it carries (an Upgrade: websocket header once opened every
// route). The only exceptions are the table's own: GET probes, and real
// WebSocket upgrades on socket routes, which TestSocketRoutesAuthenticate
// covers; and CORS preflights, answered "OK" on every path before auth.
// A route added to the table is walked without further ado.
func TestEveryRouteNeedsAuth(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		a, srv := authAPI(t, open)
		table := a.routeTable()

		// The exceptions are deliberate: changing them changes this list.
		var exceptions []string
		for _, rt := range table {
			switch rt.access {
			case accessProbe:
				exceptions = append(exceptions, "probe "+rt.pattern)
			case accessSocket:
				exceptions = append(exceptions, "socket "+rt.pattern)
			}
		}
		require.ElementsMatch(t, []string{
			"probe GET /health", "probe GET /ready",
			"socket GET /events/in", "socket GET /events/out", "socket GET /work_pools/{pool}/workers/connect",
			"socket GET /task_runs/subscriptions/scheduled", "socket GET /logs/out",
		}, exceptions)

		basic := func(creds string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(creds)) }
		badCredentials := map[string]string{
			"none":            "",
			"wrong password":  basic("admin:wrong"),
			"wrong user":      basic("root:secret"),
			"empty":           basic(""),
			"bearer":          "Bearer " + authString,
			"raw":             authString,
			"not base64":      "Basic !!!",
			"trailing junk":   basic(authString) + "x",
			"lower-case":      "basic " + base64.StdEncoding.EncodeToString([]byte(authString)),
			"double space":    "Basic  " + base64.StdEncoding.EncodeToString([]byte(authString)),
			"prefix of token": basic(authString)[:len(basic(authString))-2],
		}
		headerSets := map[string][]string{
			"plain":     nil,
			"upgrade":   {"Upgrade", "websocket", "Connection", "Upgrade"},
			"websocket": {"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol", "prefect"},
			"preflight": {"Origin", "https://ui.example", "Access-Control-Request-Method", "POST"},
		}
		methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}
		paths := []string{"/no-such-route", "/", ""}
		for _, rt := range table {
			paths = append(paths, samplePath(rt.pattern))
		}

		client := &http.Client{Timeout: time.Minute}
		checked := 0
		for _, path := range paths {
			for _, suffix := range []string{"", "/"} {
				for _, method := range methods {
					for credName, cred := range badCredentials {
						for headerName, headers := range headerSets {
							if exempt(table, method, path, headerName == "upgrade" || headerName == "websocket") {
								continue
							}
							req, err := http.NewRequest(method, srv.URL+"/api"+path+suffix, strings.NewReader(`{"include_secrets": true, "name": "f"}`))
							require.NoError(t, err)
							if cred != "" {
								req.Header.Set("Authorization", cred)
							}
							for i := 0; i < len(headers); i += 2 {
								req.Header.Set(headers[i], headers[i+1])
							}
							res, err := client.Do(req)
							require.NoError(t, err)
							body, err := io.ReadAll(res.Body)
							require.NoError(t, err)
							res.Body.Close()
							checked++
							// A CORS preflight (OPTIONS with Origin and
							// Access-Control-Request-Method) is answered before
							// auth, as in Prefect, and says nothing but "OK".
							// The same headers on any other method open nothing.
							if method == http.MethodOptions && headerName == "preflight" {
								require.Equal(t, http.StatusOK, res.StatusCode, "preflight of %s", path+suffix)
								require.Equal(t, "OK", string(body), "preflight of %s", path+suffix)
								continue
							}
							require.Equal(t, http.StatusUnauthorized, res.StatusCode,
								"%s %s with %s credentials and %s headers", method, path+suffix, credName, headerName)
						}
					}
				}
			}
		}
		t.Logf("%d requests to %d routes, all 401 but the preflights", checked, len(table))
	})
}

// exempt reports whether the route table opens method on path: a probe
// (GET or HEAD), or a socket route asked for a WebSocket upgrade.
func exempt(table []apiRoute, method, path string, upgrade bool) bool {
	for _, rt := range table {
		m, _, _ := strings.Cut(rt.pattern, " ")
		if samplePath(rt.pattern) != path || !(method == m || (m == http.MethodGet && method == http.MethodHead)) {
			continue
		}
		switch rt.access {
		case accessProbe:
			return true
		case accessSocket:
			return upgrade && method == http.MethodGet
		}
	}
	return false
}

var wildcard = regexp.MustCompile(`\{[^}]+\}`)

// samplePath is the pattern's path with every wildcard filled in.
func samplePath(pattern string) string {
	_, path, _ := strings.Cut(pattern, " ")
	return wildcard.ReplaceAllString(path, "0b9c2c6e-6a4f-4f0e-9d4b-6f1f2a1c9e77")
}

// TestSocketRoutesAuthenticate: a WebSocket upgrade on a socket route is
// let through to the handshake, which refuses a client without the
// "prefect" subprotocol and one whose auth message carries a wrong token,
// and accepts the right token. The worker channel gives every refusal
// Prefect's one reason, "authentication_failed".
func TestSocketRoutesAuthenticate(t *testing.T) {
	t.Parallel()
	_, srv := authAPI(t, storetest.NewSQLite)
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, path := range []string{"/events/in", "/events/out", "/work_pools/p/workers/connect", "/task_runs/subscriptions/scheduled", "/logs/out"} {
		// No subprotocol: refused before the upgrade, even with the header.
		_, res, err := websocket.Dial(ctx, wsURL+path, &websocket.DialOptions{
			HTTPHeader: http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(authString))}}})
		require.Error(t, err, path)
		require.Equal(t, http.StatusForbidden, res.StatusCode, path)

		for _, token := range []string{"", "admin:wrong", "Basic " + base64.StdEncoding.EncodeToString([]byte(authString))} {
			c, _, err := websocket.Dial(ctx, wsURL+path, &websocket.DialOptions{Subprotocols: []string{"prefect"}})
			require.NoError(t, err, path)
			msg := `{"type":"auth","token":"` + token + `"}`
			if token == "" {
				msg = `{"type":"auth"}`
			}
			require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(msg)))
			_, _, err = c.Read(ctx)
			require.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "%s with token %q: %v", path, token, err)
			if strings.Contains(path, "workers") {
				var ce websocket.CloseError
				require.ErrorAs(t, err, &ce)
				require.Equal(t, "authentication_failed", ce.Reason, "%s with token %q", path, token)
			}
			c.CloseNow()
		}

		c, _, err := websocket.Dial(ctx, wsURL+path, &websocket.DialOptions{Subprotocols: []string{"prefect"}})
		require.NoError(t, err, path)
		require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":"`+authString+`"}`)))
		_, data, err := c.Read(ctx)
		require.NoError(t, err, path)
		require.JSONEq(t, `{"type":"auth_success"}`, string(data), path)
		c.CloseNow()
	}
}

// TestProbesOpenOnlyForGet: the probes are open to GET and HEAD only, as
// Prefect exempts them; other methods on them need credentials.
func TestProbesOpenOnlyForGet(t *testing.T) {
	t.Parallel()
	_, srv := authAPI(t, storetest.NewSQLite)
	for _, path := range []string{"/health", "/ready", "/health/"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequest(method, srv.URL+"/api"+path, nil)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode, "%s %s", method, path)
		}
	}
}
