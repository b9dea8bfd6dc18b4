package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/internal/testlog"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

type serverProc struct {
	cmd  *exec.Cmd
	url  string
	logs *testlog.Buffer
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServe runs `bin serve` on dbURL; extraEnv adds settings (NAME=value).
func startServe(t *testing.T, bin, dbURL string, extraEnv ...string) *serverProc {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(bin, "serve")
	env := []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	env = append(env,
		"PREFECT_SERVER_DATABASE_CONNECTION_URL="+dbURL,
		"PREFECT_SERVER_API_HOST=127.0.0.1",
		"PREFECT_SERVER_API_PORT="+strconv.Itoa(port),
		"PREFECT_SERVER_LOGGING_LEVEL=INFO",
	)
	env = append(env, extraEnv...)
	cmd.Env = env
	p := &serverProc{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d/api", port), logs: &testlog.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("logs of the server on %s:\n%s", p.url, p.logs.String())
		}
	})
	waitFor(t, "the server on "+p.url+" answers", func() bool {
		resp, err := http.Get(p.url + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

func (p *serverProc) leader() bool {
	logs := p.logs.String()
	return strings.Count(logs, "leadership acquired") > strings.Count(logs, "leadership lost")
}

// waitFor polls cond until it holds; the deadline bounds the wait, it does
// not time anything.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two `prefect-server serve` processes on one PostgreSQL database: an event
// posted to A streams out of B's /api/events/out, exactly one of them logs
// that it leads the singleton services, and when the leader is killed -9
// the other takes over.
func TestServeReplicasOnOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dbURL := storetest.NewPostgresDatabase(t)
	bin := filepath.Join(t.TempDir(), "prefect-server")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	a := startServe(t, bin, dbURL)
	b := startServe(t, bin, dbURL)

	// Subscribe on B, without backfill: only the live fan-out can deliver.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.url, "http")+"/events/out",
		&websocket.DialOptions{Subprotocols: []string{"prefect"}})
	require.NoError(t, err)
	defer c.CloseNow()
	c.SetReadLimit(-1)
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)))
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"auth_success"}`, string(msg))
	filter := map[string]any{
		"event":    map[string]any{"prefix": []string{"test.replicas."}},
		"occurred": map[string]any{"since": time.Now().UTC().Add(-time.Hour), "until": time.Now().UTC().AddDate(1, 0, 0)},
	}
	data, err := json.Marshal(map[string]any{"type": "filter", "filter": filter, "backfill": false})
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, websocket.MessageText, data))

	// B subscribes once it has read the filter, which it does not
	// acknowledge: post to A until one of the events comes out of B.
	received := make(chan uuid.UUID, 1)
	go func() {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Logf("reading B's /api/events/out: %v", err)
				return
			}
			var m struct {
				Type  string `json:"type"`
				Event struct {
					ID uuid.UUID `json:"id"`
				} `json:"event"`
			}
			if json.Unmarshal(data, &m) == nil && m.Type == "event" {
				received <- m.Event.ID
				return
			}
		}
	}()
	sent := map[uuid.UUID]bool{}
	var got uuid.UUID
	for got == uuid.Nil {
		id := uuid.New()
		sent[id] = true
		body, _ := json.Marshal([]any{map[string]any{
			"id": id, "occurred": time.Now().UTC().Format(time.RFC3339Nano), "event": "test.replicas.process",
			"resource": map[string]string{"prefect.resource.id": "test.resource." + id.String()},
		}})
		resp, err := http.Post(a.url+"/events", "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		select {
		case got = <-received:
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no event posted to A came out of B's /api/events/out")
		}
	}
	require.True(t, sent[got], "B streams out an event posted to A")

	// Exactly one leader, by their logs.
	waitFor(t, "one replica leads", func() bool { return a.leader() || b.leader() })
	require.False(t, a.leader() && b.leader(), "two leaders")
	leader, other := a, b
	if b.leader() {
		leader, other = b, a
	}
	require.NoError(t, leader.cmd.Process.Kill()) // SIGKILL: no clean shutdown
	_ = leader.cmd.Wait()
	waitFor(t, "the other replica takes over", other.leader)
}
