package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/httpapi"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/backend"
)

// testServer is the whole server on SQLite, served on two loopback ports the
// kernel picks: the API and the probe listener.
type testServer struct {
	api, probe net.Listener
	stopped    chan error // serveListeners' result, once ctx ends
	stop       context.CancelFunc
}

func startServer(t *testing.T, configure func(*settings.Settings)) *testServer {
	t.Helper()
	s := settings.Defaults()
	dir := t.TempDir()
	s.Home = dir
	s.Database.ConnectionURL = "sqlite+aiosqlite:///" + filepath.Join(dir, "prefect.db")
	s.API.Host = "127.0.0.1"
	configure(&s)
	log := NewLogger(io.Discard, "ERROR")
	ctx, cancel := context.WithCancel(context.Background())
	st, err := backend.Open(ctx, DatabaseConfig(s))
	require.NoError(t, err)
	app := New(s, st, log)
	require.NoError(t, app.Start(ctx))
	api, err := listen(s.API.Host, 0, s.API.MaxConnections)
	require.NoError(t, err)
	probe, err := listen(s.API.Host, 0, probeConnections)
	require.NoError(t, err)
	ts := &testServer{api: api, probe: probe, stopped: make(chan error, 1), stop: cancel}
	go func() { ts.stopped <- serveListeners(ctx, s, app.Handler, listeners{api: api, probe: probe}, log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ts.stopped:
			require.NoError(t, err, "shutting down")
		case <-time.After(time.Minute):
			t.Error("the server did not shut down")
		}
		app.Stop()
		_ = st.Close()
	})
	return ts
}

// slotsTaken is how many connections the API listener is serving.
func (ts *testServer) slotsTaken() int { return len(ts.api.(*limitListener).slots) }

// waitFor polls cond until it holds; ctx only keeps a broken test from
// hanging.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting: %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// get answers the status of GET url, or 0 when the request failed.
func get(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode
}

// slowClient takes a connection and holds it the way an attacker would:
// "idle" never sends a byte; "slow body" sends the headers of a POST and then
// a byte of its body every 20ms, forever. The channel gets what ended it: the
// status the server answered, or 0 when the server hung up.
func slowClient(t *testing.T, ctx context.Context, addr, kind string) <-chan int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	if kind == "slow body" {
		_, err = io.WriteString(conn, "POST /api/flows/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
		require.NoError(t, err)
		go func() {
			for ctx.Err() == nil {
				if _, err := io.WriteString(conn, " "); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	ended := make(chan int, 1)
	go func() {
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			ended <- 0
			return
		}
		_ = res.Body.Close()
		ended <- res.StatusCode
	}()
	return ended
}

// Slow and idle clients holding every API connection cannot keep the probes
// from answering: they have a listener of their own.
func TestProbesAnswerWhileSlowClientsHoldEveryConnection(t *testing.T) {
	for _, kind := range []string{"idle", "slow body"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			const slots = 3
			ts := startServer(t, func(s *settings.Settings) {
				s.API.MaxConnections = slots
				// Long enough that the clients hold on for the whole test.
				s.API.ReadHeaderTimeout, s.API.RequestTimeout = time.Hour, time.Hour
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for range slots {
				slowClient(t, ctx, ts.api.Addr().String(), kind)
			}
			waitFor(t, ctx, "every API connection taken", func() bool { return ts.slotsTaken() == slots })

			// The API port is starved (a request there waits in the backlog)...
			starved, cancelStarved := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancelStarved()
			require.Zero(t, get(starved, "http://"+ts.api.Addr().String()+"/api/health"), "the API port answered with every slot taken")

			// ...and the probes still answer, as often as they are asked.
			probe := "http://" + ts.probe.Addr().String()
			for range 3 * probeConnections {
				require.Equal(t, http.StatusOK, get(ctx, probe+"/api/health"))
				require.Equal(t, http.StatusOK, get(ctx, probe+"/api/ready"))
			}
			// The probe listener serves nothing else.
			require.Equal(t, http.StatusNotFound, get(ctx, probe+"/api/flows/"+uuid.NewString()))
			require.Equal(t, http.StatusNotFound, get(ctx, probe+"/api/admin/settings"))
		})
	}
}

// Slow and idle clients are cut off by the read-header and request timeouts,
// and the API serves again.
func TestSlowClientsAreCutOff(t *testing.T) {
	for _, kind := range []string{"idle", "slow body"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			const slots = 3
			ts := startServer(t, func(s *settings.Settings) {
				s.API.MaxConnections = slots
				s.API.ReadHeaderTimeout, s.API.RequestTimeout = 200*time.Millisecond, 300*time.Millisecond
			})
			// Generous next to the timeouts, yet below the 30s header timeout
			// the server used to hard-code, which idle clients must not get.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var ended []<-chan int
			for range slots {
				ended = append(ended, slowClient(t, ctx, ts.api.Addr().String(), kind))
			}
			for _, e := range ended {
				select {
				case status := <-e:
					if kind == "idle" {
						require.Zero(t, status, "an idle connection is closed without an answer")
					} else {
						// 408, unless the reset of the unread body beat it to the client.
						require.Contains(t, []int{0, http.StatusRequestTimeout}, status)
					}
				case <-ctx.Done():
					t.Fatal("a slow client still holds its connection")
				}
			}
			require.Equal(t, http.StatusOK, get(ctx, "http://"+ts.api.Addr().String()+"/api/health"))
		})
	}
}

// rawRequest writes request, as is, on a new connection to the API and
// reads the response; r reads on from the connection after it.
func rawRequest(t *testing.T, ts *testServer, request string) (res *http.Response, r *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", ts.api.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = io.WriteString(conn, request)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Minute))) // only against a hang
	r = bufio.NewReader(conn)
	res, err = http.ReadResponse(r, nil)
	require.NoError(t, err)
	return res, r
}

// A body that stops arriving gets 408 in Prefect's shape, and the connection
// is closed.
func TestStalledBodyGets408(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(s *settings.Settings) { s.API.RequestTimeout = 200 * time.Millisecond })
	res, r := rawRequest(t, ts, "POST /api/flows/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":")
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusRequestTimeout, res.StatusCode)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	require.JSONEq(t, `{"detail":"The request body was not received within PREFECT_SERVER_API_REQUEST_TIMEOUT (0.2s)."}`, string(body))
	require.True(t, res.Close)
	_, err = r.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the connection is closed")
}

// With PREFECT_SERVER_API_KEEPALIVE_TIMEOUT at 0 a connection is closed after
// its response, as uvicorn does, instead of idling forever.
func TestZeroKeepAliveClosesAfterEachResponse(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(s *settings.Settings) { s.API.KeepAliveTimeout = 0 })
	res, r := rawRequest(t, ts, "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
	_, _ = io.Copy(io.Discard, res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode)
	_, err := r.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the server closes the connection")
}

// WebSockets live past PREFECT_SERVER_API_REQUEST_TIMEOUT and the read-header
// timeout: an event sent in after both have passed several times over comes
// out of the events stream.
func TestWebSocketsOutliveTheRequestTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	ts := startServer(t, func(s *settings.Settings) {
		s.API.ReadHeaderTimeout, s.API.RequestTimeout, s.API.KeepAliveTimeout = timeout, timeout, timeout
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := "ws://" + ts.api.Addr().String() + "/api/events/"
	out, _, err := websocket.Dial(ctx, base+"out", nil)
	require.NoError(t, err)
	defer out.CloseNow()
	require.NoError(t, out.Write(ctx, websocket.MessageText, []byte(`{"type":"filter","filter":{"occurred":{"until":"2999-01-01T00:00:00Z"},"event":{"prefix":["test."]}},"backfill":false}`)))
	in, _, err := websocket.Dial(ctx, base+"in", nil)
	require.NoError(t, err)
	defer in.CloseNow()

	time.Sleep(10 * timeout) // not a bound: the sockets must merely outlive the timeouts

	id := uuid.New()
	event := fmt.Sprintf(`{"id":%q,"occurred":%q,"event":"test.ping","resource":{"prefect.resource.id":"test.1"}}`,
		id, time.Now().UTC().Format(time.RFC3339Nano))
	require.NoError(t, in.Write(ctx, websocket.MessageText, []byte(event)))
	for {
		_, data, err := out.Read(ctx)
		require.NoError(t, err, "the events stream ended")
		var msg struct {
			Event struct {
				ID uuid.UUID `json:"id"`
			} `json:"event"`
		}
		require.NoError(t, json.Unmarshal(data, &msg))
		if msg.Event.ID == id {
			return
		}
	}
}

// Shutting down does not wait for a free connection slot while every slot
// is a WebSocket, which http.Server does not track.
func TestShutdownWithEverySlotAWebSocket(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(s *settings.Settings) { s.API.MaxConnections = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+ts.api.Addr().String()+"/api/events/in", nil)
	require.NoError(t, err)
	defer c.CloseNow()
	waitFor(t, ctx, "the WebSocket takes the slot", func() bool { return ts.slotsTaken() == 1 })
	ts.stop()
	select {
	case err := <-ts.stopped:
		require.NoError(t, err)
		ts.stopped <- err // for the cleanup
	case <-ctx.Done():
		t.Fatal("shutdown waits for a connection slot")
	}
}

// A handler that runs past PREFECT_SERVER_API_REQUEST_TIMEOUT has its context
// cancelled, and its error becomes a 503 in Prefect's shape, which keeps the
// CORS headers; a handler that succeeds late keeps its answer.
func TestRequestTimeoutCancelsTheHandler(t *testing.T) {
	t.Parallel()
	s := settings.Defaults()
	s.API.Host, s.API.RequestTimeout = "127.0.0.1", 100*time.Millisecond
	l, err := listen(s.API.Host, 0, 0)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-ctx.Done():
		}
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/late-success" {
			_, _ = io.WriteString(w, "done")
			return
		}
		// What a handler whose store call was cancelled answers.
		http.Error(w, r.Context().Err().Error(), http.StatusInternalServerError)
	})
	done := make(chan error, 1)
	go func() {
		done <- serveHTTP(ctx, httpServer(s, httpapi.CORS(s.API, h), NewLogger(io.Discard, "ERROR")), l)
	}()

	req, err := http.NewRequest(http.MethodGet, "http://"+l.Addr().String()+"/slow", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "http://localhost:4200")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, []string{"Origin"}, res.Header.Values("Vary"))
	require.JSONEq(t, `{"exception_message":"Service Unavailable","detail":"The request did not complete within PREFECT_SERVER_API_REQUEST_TIMEOUT (0.1s) and was cancelled."}`, string(body))

	res, err = http.Get("http://" + l.Addr().String() + "/late-success")
	require.NoError(t, err)
	body, err = io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "done", string(body))

	cancel()
	require.NoError(t, <-done)
}
