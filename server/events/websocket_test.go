package events

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/internal/testlog"
)

type wsBundle struct {
	url    string
	broker *Broker
	sub    *Subscription
	logs   *testlog.Buffer
}

// setupWS serves InHandler(cfg) on a test server whose events go to a broker
// with one subscription of 100.
func setupWS(t *testing.T, cfg InConfig, limits Limits) *wsBundle {
	t.Helper()
	logger, logs := bufferLogger()
	b := NewBroker()
	sub := b.Subscribe("test", 100)
	cfg.Ingestor = NewIngestor(IngestConfig{Publisher: b, Limits: limits, Logger: logger})
	cfg.Logger = logger
	srv := httptest.NewServer(InHandler(cfg))
	t.Cleanup(srv.Close)
	return &wsBundle{url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/events/in", broker: b, sub: sub, logs: logs}
}

// wsClient reads continuously, as Prefect's client does, so pings get
// their pongs.
type wsClient struct {
	*websocket.Conn
	msgs  chan string
	ended chan error
}

func dialWS(t *testing.T, url string, subprotocol bool) *wsClient {
	t.Helper()
	opts := &websocket.DialOptions{}
	if subprotocol {
		opts.Subprotocols = []string{"prefect"}
	}
	c, _, err := websocket.Dial(t.Context(), url, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(-1)
	wc := &wsClient{Conn: c, msgs: make(chan string, 10), ended: make(chan error, 1)}
	go func() {
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				wc.ended <- err
				return
			}
			wc.msgs <- string(data)
		}
	}()
	return wc
}

func (c *wsClient) send(t *testing.T, msg []byte) {
	t.Helper()
	require.NoError(t, c.Write(t.Context(), websocket.MessageText, msg))
}

func (c *wsClient) auth(t *testing.T, token any) {
	t.Helper()
	c.send(t, mustJSON(t, map[string]any{"type": "auth", "token": token}))
	select {
	case msg := <-c.msgs:
		require.JSONEq(t, `{"type":"auth_success"}`, msg)
	case err := <-c.ended:
		require.FailNow(t, "closed instead of auth_success", "%v", err)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no auth_success")
	}
}

func (c *wsClient) ping(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	require.NoError(t, c.Ping(ctx))
}

// requireClosed waits for the server to close the socket and checks how.
func (c *wsClient) requireClosed(t *testing.T, code websocket.StatusCode, reason string) {
	t.Helper()
	select {
	case err := <-c.ended:
		var ce websocket.CloseError
		require.True(t, errors.As(err, &ce), "not a close: %v", err)
		require.Equal(t, code, ce.Code)
		require.Equal(t, reason, ce.Reason)
	case msg := <-c.msgs:
		require.FailNow(t, "unexpected message", msg)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "socket not closed")
	}
}

func TestInHandshakeWithoutAuth(t *testing.T) {
	t.Parallel()
	ws := setupWS(t, InConfig{}, Limits{})
	c := dialWS(t, ws.url, true)
	require.Equal(t, "prefect", c.Subprotocol())

	c.ping(t) // the client pings before it authenticates
	c.auth(t, nil)
	raws := sampleEvents(t)[:3]
	for _, raw := range raws {
		c.send(t, raw)
	}
	c.ping(t)

	got := receiveN(t, ws.sub, 3)
	for i, raw := range raws {
		want, err := DecodeEvent(raw, Limits{})
		require.NoError(t, err)
		require.Equal(t, want.ID, got[i].ID)
		require.False(t, got[i].Received.IsZero())
	}
	require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
}

func TestInHandshakeWithAuth(t *testing.T) {
	t.Parallel()
	ws := setupWS(t, InConfig{AuthString: "admin:pass"}, Limits{})
	c := dialWS(t, ws.url, true)
	c.auth(t, "admin:pass")
	c.send(t, mustJSON(t, eventJSON()))
	receiveN(t, ws.sub, 1)
}

func TestInHandshakeRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		auth   string
		first  string
		reason string
	}{
		{"wrong token", "admin:pass", `{"type":"auth","token":"admin:nope"}`, "Invalid token"},
		{"no token", "admin:pass", `{"type":"auth","token":null}`, "Auth required but no token provided"},
		{"empty token", "admin:pass", `{"type":"auth","token":""}`, "Auth required but no token provided"},
		{"not auth", "admin:pass", `{"type":"filter"}`, "Expected 'auth' message"},
		{"not auth without auth configured", "", `{"type":"filter"}`, "Expected 'auth' message"},
		{"not json", "", `hello`, "Expected 'auth' message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := setupWS(t, InConfig{AuthString: tt.auth}, Limits{})
			c := dialWS(t, ws.url, true)
			c.send(t, []byte(tt.first))
			c.requireClosed(t, websocket.StatusPolicyViolation, tt.reason)
			requireNothing(t, ws.sub)
		})
	}
}

func TestInLegacyClient(t *testing.T) {
	t.Parallel()
	ws := setupWS(t, InConfig{}, Limits{})
	c := dialWS(t, ws.url, false)
	require.Equal(t, "", c.Subprotocol())
	c.send(t, mustJSON(t, eventJSON())) // no handshake
	receiveN(t, ws.sub, 1)
}

func TestInLegacyClientRefusedWhenAuthConfigured(t *testing.T) {
	t.Parallel()
	ws := setupWS(t, InConfig{AuthString: "admin:pass"}, Limits{})
	_, resp, err := websocket.Dial(t.Context(), ws.url, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestInInvalidEventClosesSocket(t *testing.T) {
	t.Parallel()
	ws := setupWS(t, InConfig{}, Limits{})
	c := dialWS(t, ws.url, true)
	c.auth(t, nil)
	good, bad := eventJSON(), eventJSON()
	bad["related"] = relatedN(101)

	c.send(t, mustJSON(t, good))
	c.send(t, mustJSON(t, bad))
	// After the bad one: never read. The server may already have closed the
	// socket, so this write may fail, which is fine.
	_ = c.Write(t.Context(), websocket.MessageText, mustJSON(t, eventJSON()))

	c.requireClosed(t, websocket.StatusPolicyViolation, "related: The maximum number of related resources is 100")
	got := receiveN(t, ws.sub, 1)
	require.Equal(t, good["id"], got[0].ID.String())
	requireNothing(t, ws.sub)
	require.Contains(t, ws.logs.String(), "rejecting invalid event")
}

// An event over the size limit is dropped and the socket reads on, as in
// Prefect; only a message the WebSocket layer will not read ends it.
func TestInOversizedEvents(t *testing.T) {
	t.Parallel()
	ws := setupWS(t, InConfig{}, Limits{MaxSizeBytes: 2000})

	t.Run("over the limit", func(t *testing.T) {
		c := dialWS(t, ws.url, true)
		c.auth(t, nil)
		big := eventJSON()
		big["payload"] = map[string]any{"big": strings.Repeat("x", 3000)}
		c.send(t, mustJSON(t, big))
		c.send(t, mustJSON(t, eventJSON()))
		c.ping(t) // both were read
		got := receiveN(t, ws.sub, 1)
		require.NotEqual(t, big["id"], got[0].ID.String(), "the oversized event was not published")
		requireNothing(t, ws.sub)
	})
	t.Run("over the read limit", func(t *testing.T) {
		c := dialWS(t, ws.url, true)
		c.auth(t, nil)
		ev := eventJSON()
		ev["payload"] = map[string]any{"big": strings.Repeat("x", 16<<20)}
		c.send(t, mustJSON(t, ev))
		c.requireClosed(t, websocket.StatusMessageTooBig, "read limited at "+itoa(16<<20+1)+" bytes")
	})
	requireNothing(t, ws.sub)
}

func TestInDropsResentEvents(t *testing.T) {
	t.Parallel()
	ws := setupWS(t, InConfig{}, Limits{})
	ev := mustJSON(t, eventJSON())
	for range 2 { // a reconnect resends what the pong had not confirmed
		c := dialWS(t, ws.url, true)
		c.auth(t, nil)
		c.send(t, ev)
		c.ping(t)
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	}
	receiveN(t, ws.sub, 1)
	requireNothing(t, ws.sub)
}

func TestInAnswersPingsWhileBrokerIsSlow(t *testing.T) {
	t.Parallel()
	ws := setupWS(t, InConfig{QueueSize: 64}, Limits{})
	slow := ws.broker.Subscribe("slow", 1) // nobody reads it yet
	c := dialWS(t, ws.url, true)
	c.auth(t, nil)
	for range 20 {
		c.send(t, mustJSON(t, eventJSON()))
	}
	c.ping(t) // answered although publishing is stuck on the slow subscriber

	receiveN(t, slow, 20)
	receiveN(t, ws.sub, 20)
}
