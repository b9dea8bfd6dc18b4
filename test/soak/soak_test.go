//go:build soak

// Package soak runs the built server under a bounded mixed load for a few
// minutes and checks that it does not leak: goroutines and RSS at the end
// stay within a bound of what they were after a warm-up. `make soak` runs it
// (not part of make test: it takes SOAK_DURATION, 3 minutes by default).
package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// Bounds at the end, against the sample taken after the warm-up: a few
// goroutines may be mid-request when sampled; memory may grow with the
// database's page cache and the Go heap's high-water mark, but not with
// the work done.
const (
	maxGoroutineGrowth = 25
	maxRSSGrowth       = 1.5 // times the warm RSS, plus 32 MiB
	workers            = 8
)

func TestSoak(t *testing.T) {
	bin := os.Getenv("PREFECTGO_SERVER_BIN")
	if bin == "" {
		t.Fatal("PREFECTGO_SERVER_BIN is not set (make soak sets it)")
	}
	duration, err := time.ParseDuration(os.Getenv("SOAK_DURATION"))
	if err != nil {
		duration = 3 * time.Minute
	}
	port, pprofPort := freePort(t), freePort(t)
	home := t.TempDir()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+home, "PREFECT_SERVER_API_PORT="+strconv.Itoa(port),
		"PREFECT_SERVER_DATABASE_CONNECTION_URL=sqlite+aiosqlite:///"+filepath.Join(home, "soak.db"),
		"PREFECTGO_PPROF_ADDR=127.0.0.1:"+strconv.Itoa(pprofPort), "PREFECT_SERVER_LOGGING_LEVEL=WARNING")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	api := fmt.Sprintf("http://127.0.0.1:%d/api", port)
	pprof := fmt.Sprintf("http://127.0.0.1:%d", pprofPort)
	waitUp(t, api)

	l := &load{api: api, client: &http.Client{Timeout: time.Minute}}
	l.flow = l.create(t, "/flows/", map[string]any{"name": "soak"})

	// Warm up for a tenth of the run, then sample, load, let in-flight work
	// settle, and sample again.
	warm := duration / 10
	l.run(t, warm)
	time.Sleep(2 * time.Second)
	g0, rss0 := goroutines(t, pprof), rss(t, cmd.Process.Pid)
	l.run(t, duration-warm)
	time.Sleep(5 * time.Second)
	g1, rss1 := goroutines(t, pprof), rss(t, cmd.Process.Pid)

	t.Logf("%s of load: %d lifecycles, %d log batches, %d event batches, %d reads, %d sockets; errors %d",
		duration, l.lifecycles.Load(), l.logs.Load(), l.events.Load(), l.reads.Load(), l.sockets.Load(), l.errors.Load())
	t.Logf("goroutines %d -> %d; RSS %.1f -> %.1f MiB", g0, g1, float64(rss0)/(1<<20), float64(rss1)/(1<<20))
	if l.errors.Load() > 0 {
		t.Errorf("%d requests failed", l.errors.Load())
	}
	if g1 > g0+maxGoroutineGrowth {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if float64(rss1) > float64(rss0)*maxRSSGrowth+32<<20 {
		t.Errorf("RSS grew from %d to %d bytes", rss0, rss1)
	}
}

type load struct {
	api    string
	client *http.Client
	flow   string

	lifecycles, logs, events, reads, sockets, errors atomic.Int64
}

// run drives workers mixed clients for d: each loop does a flow-run
// lifecycle with logs and events, two filtered reads, and every fourth loop
// opens an /events/out socket, reads a little and drops it.
func (l *load) run(t *testing.T, d time.Duration) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				l.iteration(w, i)
			}
		})
	}
	wg.Wait()
}

func (l *load) iteration(w, i int) {
	run, ok := l.try("/flow_runs/", map[string]any{"flow_id": l.flow, "state": map[string]any{"type": "PENDING"}})
	if !ok {
		return
	}
	for _, st := range []string{"RUNNING", "COMPLETED"} {
		l.try("/flow_runs/"+run+"/set_state", map[string]any{"state": map[string]any{"type": st}})
	}
	l.lifecycles.Add(1)
	logs := make([]any, 10)
	for j := range logs {
		logs[j] = map[string]any{"name": "soak", "level": 20, "message": strings.Repeat("m", 200),
			"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "flow_run_id": run}
	}
	if _, ok := l.try("/logs/", logs); ok {
		l.logs.Add(1)
	}
	evs := make([]any, 10)
	for j := range evs {
		evs[j] = map[string]any{"id": uuid.NewString(), "event": "soak.event", "occurred": time.Now().UTC().Format(time.RFC3339Nano),
			"resource": map[string]any{"prefect.resource.id": "soak." + strconv.Itoa(w)}, "payload": map[string]any{"i": i}}
	}
	if _, ok := l.try("/events", evs); ok {
		l.events.Add(1)
	}
	for _, path := range []string{"/flow_runs/filter", "/logs/filter"} {
		if _, ok := l.try(path, map[string]any{"limit": 20}); ok {
			l.reads.Add(1)
		}
	}
	if i%4 == 0 {
		l.socket()
	}
}

func (l *load) socket() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(l.api, "http")+"/events/out", &websocket.DialOptions{Subprotocols: []string{"prefect"}})
	if err != nil {
		l.errors.Add(1)
		return
	}
	defer c.CloseNow()
	_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`))
	if _, _, err := c.Read(ctx); err != nil {
		l.errors.Add(1)
		return
	}
	_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"filter","filter":{"event":{"prefix":["soak."]}}}`))
	l.sockets.Add(1)
	// Dropped without a close handshake, as a crashed client would.
}

// try POSTs body and returns the id of what it created, if any.
func (l *load) try(path string, body any) (string, bool) {
	b, _ := json.Marshal(body)
	res, err := l.client.Post(l.api+path, "application/json", bytes.NewReader(b))
	if err != nil {
		l.errors.Add(1)
		return "", false
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		l.errors.Add(1)
		return "", false
	}
	var obj struct{ ID string }
	_ = json.Unmarshal(data, &obj)
	return obj.ID, true
}

func (l *load) create(t *testing.T, path string, body any) string {
	id, ok := l.try(path, body)
	if !ok || id == "" {
		t.Fatalf("creating %s failed", path)
	}
	return id
}

func goroutines(t *testing.T, pprof string) int {
	res, err := http.Get(pprof + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, _ := io.ReadAll(io.LimitReader(res.Body, 200))
	// "goroutine profile: total N"
	f := strings.Fields(strings.SplitN(string(line), "\n", 2)[0])
	n, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		t.Fatalf("reading the goroutine count from %q: %v", line, err)
	}
	return n
}

func rss(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitUp(t *testing.T, api string) {
	for range 300 {
		if res, err := http.Get(api + "/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the server did not come up")
}
