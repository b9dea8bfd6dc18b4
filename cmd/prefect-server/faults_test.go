package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// Fault tests: the server under a write load while the process, the database
// or the disk fails. What they check is the contract with clients: a write
// answered 2xx is durable, a write that cannot be stored is answered 503 with
// a reason (the Prefect client retries 503), and nothing hangs.

// clientTimeout bounds each request of the load so a hang fails the test
// instead of blocking it; it is far above the server's statement timeout.
const clientTimeout = 60 * time.Second

func buildServer(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := filepath.Join(t.TempDir(), "prefect-server")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// ledger is what the server acknowledged (answered 2xx), and the statuses
// of everything else.
type ledger struct {
	mu       sync.Mutex
	runs     []string
	states   []string
	logs     map[string]string // message -> flow run id
	events   []uuid.UUID
	statuses map[string]map[int]int // operation -> status -> count
	refused  []string               // bodies of 503s, to check their shape
	timeouts int
	failed   int // transport errors other than timeouts (the server was killed)
}

func newLedger() *ledger {
	return &ledger{logs: map[string]string{}, statuses: map[string]map[int]int{}}
}

func (l *ledger) status(op string, code int, body []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.statuses[op] == nil {
		l.statuses[op] = map[int]int{}
	}
	l.statuses[op][code]++
	if code == http.StatusServiceUnavailable && len(l.refused) < 1000 {
		l.refused = append(l.refused, string(body))
	}
}

func (l *ledger) count(code int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, byCode := range l.statuses {
		n += byCode[code]
	}
	return n
}

func (l *ledger) opCount(op string, code int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statuses[op][code]
}

func (l *ledger) acked() (runs, states, logs, events int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.runs), len(l.states), len(l.logs), len(l.events)
}

func (l *ledger) String() string {
	runs, states, logs, events := l.acked()
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("acknowledged: %d runs, %d states, %d logs, %d events; statuses %v; %d timeouts, %d transport errors",
		runs, states, logs, events, l.statuses, l.timeouts, l.failed)
}

// client is one load client against base, recording into l.
type client struct {
	base string
	l    *ledger
	http *http.Client
}

func newClient(base string, l *ledger) *client {
	return &client{base: base, l: l, http: &http.Client{Timeout: clientTimeout}}
}

// do sends a JSON request; ok is false when no response came back.
func (c *client) do(op, method, path string, body any) (int, []byte, bool) {
	data, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(data))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.l.mu.Lock()
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			c.l.timeouts++
		} else {
			c.l.failed++
		}
		c.l.mu.Unlock()
		time.Sleep(50 * time.Millisecond) // the server is gone: do not spin
		return 0, nil, false
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	c.l.status(op, resp.StatusCode, out)
	if resp.StatusCode == http.StatusServiceUnavailable {
		time.Sleep(50 * time.Millisecond) // back off, as a client retrying would
	}
	return resp.StatusCode, out, true
}

// cycle is one round of the load: a flow run, a state, a log and (when
// events is set) an event, each recorded when acknowledged.
func (c *client) cycle(flowID string, withEvents bool) {
	if withEvents {
		c.postEvent(1 << 10)
	}
	var run struct {
		ID string `json:"id"`
	}
	code, body, _ := c.do("flow_run", "POST", "/flow_runs/", map[string]any{"flow_id": flowID, "name": "fault-" + uuid.NewString()[:8]})
	if code != http.StatusCreated || json.Unmarshal(body, &run) != nil || run.ID == "" {
		return
	}
	c.l.mu.Lock()
	c.l.runs = append(c.l.runs, run.ID)
	c.l.mu.Unlock()

	var res struct {
		Status string `json:"status"`
		State  struct {
			ID string `json:"id"`
		} `json:"state"`
	}
	code, body, _ = c.do("set_state", "POST", "/flow_runs/"+run.ID+"/set_state", map[string]any{"state": map[string]any{"type": "RUNNING"}})
	if code == http.StatusCreated && json.Unmarshal(body, &res) == nil && res.Status == "ACCEPT" {
		c.l.mu.Lock()
		c.l.states = append(c.l.states, res.State.ID)
		c.l.mu.Unlock()
	}

	msg := "fault log " + uuid.NewString()
	code, _, _ = c.do("log", "POST", "/logs/", []any{map[string]any{
		"name": "fault", "level": 20, "message": msg, "flow_run_id": run.ID,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
	}})
	if code == http.StatusCreated {
		c.l.mu.Lock()
		c.l.logs[msg] = run.ID
		c.l.mu.Unlock()
	}
}

// postEvent posts one event with a payload of about size bytes and records
// it when acknowledged; it returns the status.
func (c *client) postEvent(size int) int {
	id := uuid.New()
	code, _, _ := c.do("event", "POST", "/events", []any{map[string]any{
		"id": id, "occurred": time.Now().UTC().Format(time.RFC3339Nano), "event": "test.fault.event",
		"resource": map[string]string{"prefect.resource.id": "test.fault." + id.String()},
		"payload":  map[string]string{"pad": string(bytes.Repeat([]byte("x"), size))},
	}})
	if code == http.StatusNoContent {
		c.l.mu.Lock()
		c.l.events = append(c.l.events, id)
		c.l.mu.Unlock()
	}
	return code
}

// load runs workers clients in cycles until stop is closed; wait for the
// returned channel.
func load(base, flowID string, l *ledger, workers int, withEvents bool, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			c := newClient(base, l)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.cycle(flowID, withEvents)
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

func createFlow(t *testing.T, base string) string {
	t.Helper()
	c := newClient(base, newLedger())
	code, body, _ := c.do("flow", "POST", "/flows/", map[string]any{"name": "fault-" + uuid.NewString()[:8]})
	require.Contains(t, []int{200, 201}, code, string(body))
	var flow struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(body, &flow))
	return flow.ID
}

// verify checks that everything l recorded as acknowledged is stored, and
// returns the counts found.
func verify(t *testing.T, base string, l *ledger) {
	t.Helper()
	c := newClient(base, newLedger())
	get := func(path string) int {
		code, body, ok := c.do("verify", "GET", path, nil)
		require.True(t, ok, "GET %s answered", path)
		require.Contains(t, []int{200, 404}, code, "GET %s: %s", path, body)
		return code
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lost := 0
	for _, id := range l.runs {
		if get("/flow_runs/"+id) != 200 {
			lost++
		}
	}
	require.Zero(t, lost, "acknowledged flow runs lost, of %d", len(l.runs))
	for _, id := range l.states {
		if get("/flow_run_states/"+id) != 200 {
			lost++
		}
	}
	require.Zero(t, lost, "acknowledged states lost, of %d", len(l.states))

	found := map[string]bool{}
	runIDs := make([]string, 0, len(l.runs))
	for _, id := range l.logs {
		runIDs = append(runIDs, id)
	}
	for len(runIDs) > 0 {
		chunk := runIDs[:min(50, len(runIDs))]
		runIDs = runIDs[len(chunk):]
		code, body, _ := c.do("verify", "POST", "/logs/filter", map[string]any{
			"logs": map[string]any{"flow_run_id": map[string]any{"any_": chunk}}, "limit": 200})
		require.Equal(t, 200, code, string(body))
		var logs []struct {
			Message string `json:"message"`
		}
		require.NoError(t, json.Unmarshal(body, &logs))
		for _, lg := range logs {
			found[lg.Message] = true
		}
	}
	for msg := range l.logs {
		if !found[msg] {
			lost++
		}
	}
	require.Zero(t, lost, "acknowledged logs lost, of %d", len(l.logs))

	evs := l.events
	for len(evs) > 0 {
		chunk := evs[:min(50, len(evs))]
		evs = evs[len(chunk):]
		code, body, _ := c.do("verify", "POST", "/events/filter", map[string]any{
			"filter": map[string]any{"id": map[string]any{"id": chunk}}, "limit": 50})
		require.Equal(t, 200, code, string(body))
		var page struct {
			Total int `json:"total"`
		}
		require.NoError(t, json.Unmarshal(body, &page))
		lost += len(chunk) - page.Total
	}
	require.Zero(t, lost, "acknowledged events lost, of %d", len(l.events))
}

// requireRefusals checks every 503 the load got: Prefect's error shape
// with a reason, and no 500 at all.
func requireRefusals(t *testing.T, l *ledger) {
	t.Helper()
	require.Zero(t, l.count(http.StatusInternalServerError), "no request fails with a 500: %s", l)
	l.mu.Lock()
	defer l.mu.Unlock()
	require.Zero(t, l.timeouts, "no request waits past %s", clientTimeout)
	for _, body := range l.refused {
		var e struct {
			Detail string `json:"detail"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &e), body)
		require.NotEmpty(t, e.Detail, "a 503 says why: %s", body)
	}
}

func sqliteIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer db.Close()
	var res string
	require.NoError(t, db.QueryRow("PRAGMA integrity_check").Scan(&res))
	require.Equal(t, "ok", res)
}

// waitCount waits until n() reaches want.
func waitCount(t *testing.T, what string, want int, n func() int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s (want %d)", what, want), func() bool { return n() >= want })
}

// kill -9 under a write load: everything acknowledged before the kill is
// there after a restart, and the SQLite file is intact.
func TestFaultKillUnderLoad(t *testing.T) {
	bin := buildServer(t)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var dbURL, path string
			if backend == "sqlite" {
				path = filepath.Join(t.TempDir(), "prefect.db")
				dbURL = "sqlite+aiosqlite:///" + path
			} else {
				dbURL = storetest.NewPostgresDatabase(t)
			}
			p := startServe(t, bin, dbURL)
			flowID := createFlow(t, p.url)
			l := newLedger()
			stop := make(chan struct{})
			done := load(p.url, flowID, l, 4, false, stop)
			waitCount(t, "acknowledged flow runs", 300, func() int { runs, _, _, _ := l.acked(); return runs })
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
			_ = p.cmd.Wait()
			close(stop)
			<-done
			t.Log(l)
			if path != "" {
				sqliteIntegrity(t, path)
			}
			q := startServe(t, bin, dbURL)
			verify(t, q.url, l)
			requireRefusals(t, l)
		})
	}
}

// pgInstance is a PostgreSQL server of the test's own, started by
// hack/postgres.sh, so it can be stopped without disturbing the shared one.
type pgInstance struct {
	env  []string
	data string
	url  string
}

func pgBin(t *testing.T, name string) string {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) == 0 {
		t.Skip("no PostgreSQL server binaries under /usr/lib/postgresql")
	}
	return matches[len(matches)-1]
}

func startOwnPostgres(t *testing.T) *pgInstance {
	t.Helper()
	dir, err := os.MkdirTemp("", "prefectgo-pgfault-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755)) // the postgres user must reach it
	port := freePort(t)
	pg := &pgInstance{
		env:  append(os.Environ(), "PREFECTGO_PG_PORT="+strconv.Itoa(port), "PREFECTGO_PG_DIR="+filepath.Join(dir, "pg")),
		data: filepath.Join(dir, "pg", "pgdata"),
	}
	t.Cleanup(func() {
		pg.stop(t)
		_ = os.RemoveAll(dir)
	})
	pg.url = pg.script(t, "url")
	// hack/postgres.sh turns synchronous_commit off for speed: a commit is
	// then acknowledged before its WAL is flushed, and an immediate stop
	// loses the last ones by design. Production runs with it on, and so
	// must a test of what an acknowledgement means (postgresql.auto.conf
	// overrides the script's file).
	db, err := sql.Open("pgx", pg.url)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("ALTER SYSTEM SET synchronous_commit = on")
	require.NoError(t, err)
	_, err = db.Exec("SELECT pg_reload_conf()")
	require.NoError(t, err)
	return pg
}

func (pg *pgInstance) script(t *testing.T, arg string) string {
	t.Helper()
	cmd := exec.Command("../../hack/postgres.sh", arg)
	cmd.Env = pg.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	return string(bytes.TrimSpace(out))
}

// stop is `pg_ctl stop -m immediate`: the server dies without a checkpoint
// and cuts every connection.
func (pg *pgInstance) stop(t *testing.T) {
	t.Helper()
	args := []string{pgBin(t, "pg_ctl"), "-D", pg.data, "-m", "immediate", "-w", "stop"}
	if os.Getuid() == 0 {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	t.Logf("pg_ctl stop -m immediate: %v %s", err, out)
}

// PostgreSQL stopped (immediate) and started again under a load: while it is
// down requests answer 503 with a reason, none hangs, the server reconnects
// by itself, and everything acknowledged is stored.
func TestFaultPostgresRestartUnderLoad(t *testing.T) {
	if os.Getenv(storetest.PostgresURLEnv) == "" {
		t.Skip(storetest.PostgresURLEnv + " is not set")
	}
	bin := buildServer(t)
	pg := startOwnPostgres(t)
	p := startServe(t, bin, pg.url, "PREFECT_SERVER_DATABASE_TIMEOUT=10")
	flowID := createFlow(t, p.url)
	l := newLedger()
	stop := make(chan struct{})
	done := load(p.url, flowID, l, 4, true, stop)
	stopLoad := sync.OnceFunc(func() { close(stop); <-done })
	defer stopLoad()

	waitCount(t, "acknowledged flow runs", 100, func() int { runs, _, _, _ := l.acked(); return runs })
	pg.stop(t)
	waitCount(t, "503s while PostgreSQL is down", 50, func() int { return l.count(http.StatusServiceUnavailable) })
	// Events too are refused, not acknowledged, while they cannot be stored.
	waitFor(t, "POST /events answers 503", func() bool { return l.opCount("event", http.StatusServiceUnavailable) > 0 })
	before, _, _, evBefore := l.acked()
	pg.script(t, "start")
	waitCount(t, "flow runs acknowledged after the restart", before+50, func() int { runs, _, _, _ := l.acked(); return runs })
	waitCount(t, "events acknowledged after the restart", evBefore+20, func() int { _, _, _, evs := l.acked(); return evs })
	stopLoad()
	t.Log(l)
	requireRefusals(t, l)
	verifyEventually(t, p.url, l)
}

// verifyEventually gives the event persister the time to write what it
// acknowledged (it writes in the background), then verifies.
func verifyEventually(t *testing.T, base string, l *ledger) {
	t.Helper()
	_, _, _, events := l.acked()
	want := map[uuid.UUID]bool{}
	l.mu.Lock()
	for _, id := range l.events {
		want[id] = true
	}
	l.mu.Unlock()
	c := newClient(base, newLedger())
	waitFor(t, fmt.Sprintf("the %d acknowledged events are stored", events), func() bool {
		code, body, _ := c.do("verify", "POST", "/events/filter", map[string]any{
			"filter": map[string]any{"event": map[string]any{"name": []string{"test.fault.event"}}}, "limit": 1})
		var page struct {
			Total int `json:"total"`
		}
		return code == 200 && json.Unmarshal(body, &page) == nil && page.Total >= events
	})
	verify(t, base, l)
}

// A full disk under the SQLite database: writes answer 503 with a reason,
// reads keep working, POST /events answers 503 rather than acknowledging
// events it cannot store, and everything recovers once space returns.
func TestFaultDiskFull(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting a tmpfs to fill needs root (CI runs as root)")
	}
	bin := buildServer(t)
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s)", err, out)
	}
	// Registered before the server starts, so it runs after the server is
	// killed (cleanups run last first) and nothing holds the mount.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	path := filepath.Join(dir, "prefect.db")
	p := startServe(t, bin, "sqlite+aiosqlite:///"+path)
	flowID := createFlow(t, p.url)
	l := newLedger()
	c := newClient(p.url, l)
	for range 20 {
		c.cycle(flowID, true)
	}

	filler := fill(t, dir)
	// SQLite reuses free pages of its file and WAL, so writes fail only once
	// those are used up: write big logs until one is refused.
	var refused bool
	for i := 0; i < 5000 && !refused; i++ {
		msg := "fault log " + uuid.NewString() + string(bytes.Repeat([]byte("y"), 16<<10))
		code, body, _ := c.do("log", "POST", "/logs/", []any{map[string]any{
			"name": "fault", "level": 20, "message": msg, "flow_run_id": l.runs[0],
			"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		}})
		switch code {
		case http.StatusCreated:
			l.logs[msg] = l.runs[0]
		case http.StatusServiceUnavailable:
			refused = true
		default:
			t.Fatalf("POST /logs on a full disk: %d %s", code, body)
		}
	}
	require.True(t, refused, "a write on a full disk is refused: %s", l)
	resp, err := http.Post(p.url+"/flow_runs/", "application/json", bytes.NewReader([]byte(`{"flow_id": "`+flowID+`"}`)))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(body))
	require.JSONEq(t, `{"exception_message": "Service Unavailable",
		"detail": "Database unavailable: the database's disk is full; retry later."}`, string(body))
	require.Equal(t, "10", resp.Header.Get("Retry-After"))

	// Reads keep working.
	code, body, _ := c.do("read", "GET", "/flows/"+flowID, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	code, body, _ = c.do("read", "POST", "/flow_runs/filter", map[string]any{"limit": 5})
	require.Equal(t, http.StatusOK, code, string(body))

	// Events: acknowledged until the persister's write fails, refused after.
	var eventRefused bool
	for i := 0; i < 500 && !eventRefused; i++ {
		switch code := c.postEvent(16 << 10); code {
		case http.StatusNoContent:
		case http.StatusServiceUnavailable:
			eventRefused = true
		default:
			t.Fatalf("POST /events on a full disk: %d", code)
		}
		time.Sleep(20 * time.Millisecond) // let the persister try to write
	}
	require.True(t, eventRefused, "POST /events is refused while events cannot be stored: %s", l)

	require.NoError(t, os.Remove(filler))
	waitFor(t, "a write succeeds once space returns", func() bool {
		code, _, _ := c.do("flow_run", "POST", "/flow_runs/", map[string]any{"flow_id": flowID})
		return code == http.StatusCreated
	})
	waitFor(t, "POST /events is accepted once space returns", func() bool { return c.postEvent(16) == http.StatusNoContent })
	for range 10 {
		c.cycle(flowID, true)
	}
	t.Log(l)
	requireRefusals(t, l)
	verifyEventually(t, p.url, l)
	sqliteIntegrity(t, path)
}

// fill writes a file in dir until the file system is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			return path
		}
	}
}
