//go:build browser

package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
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
	"syscall"
	"testing"
	"time"
)

// Bounds against hangs. The Python server runs its migrations and copies the UI bundles at
// start, so it gets longer than our binary, as in the compat suite.
const (
	goStartTimeout     = 30 * time.Second
	pythonStartTimeout = 90 * time.Second
	seedTimeout        = 5 * time.Minute
)

type server struct {
	origin string // http://127.0.0.1:PORT, where both UIs are served
	api    string // origin + /api
	log    string
	auth   string // user:password when the server requires basic auth
}

// startServer starts the target on a free port, on a fresh SQLite database in a temp dir, with
// extra settings as NAME=value, and waits for /api/health, following the compat suite's
// conventions (test/compat/conftest.py).
func startServer(t *testing.T, cfg config, extra ...string) *server {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	env := append(cleanEnviron(),
		"PREFECT_HOME="+filepath.Join(dir, "home"),
		"PREFECT_SERVER_API_HOST=127.0.0.1",
		"PREFECT_SERVER_API_PORT="+strconv.Itoa(port),
		"PREFECT_SERVER_DATABASE_CONNECTION_URL=sqlite+aiosqlite:///"+filepath.Join(dir, "prefect.db"),
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
	)
	env = append(env, extra...)
	var argv []string
	timeout := goStartTimeout
	if cfg.target == "python" {
		argv = []string{filepath.Join(filepath.Dir(cfg.python), "prefect"), "server", "start",
			"--host", "127.0.0.1", "--port", strconv.Itoa(port)}
		// Prefect copies the bundles to where they are served from; a temp dir, not the venv.
		env = append(env, "PREFECT_UI_STATIC_DIRECTORY="+filepath.Join(dir, "ui"))
		timeout = pythonStartTimeout
	} else {
		argv = []string{cfg.serverBin, "serve"}
		// The built UI bundles, when the caller has them (cleanEnviron dropped every PREFECT_*).
		if d := os.Getenv("PREFECT_UI_STATIC_DIRECTORY"); d != "" {
			env = append(env, "PREFECT_UI_STATIC_DIRECTORY="+d)
		}
		// And the block catalogue and collection views (hack/catalogue-assets.sh).
		if d := os.Getenv("PREFECT_SERVER_CATALOGUE_DIRECTORY"); d != "" {
			env = append(env, "PREFECT_SERVER_CATALOGUE_DIRECTORY="+d)
		}
	}

	srv := &server{
		origin: "http://127.0.0.1:" + strconv.Itoa(port),
		log:    filepath.Join(cfg.artifacts, "server.log"),
	}
	srv.api = srv.origin + "/api"
	for _, kv := range extra {
		if v, ok := strings.CutPrefix(kv, "PREFECT_SERVER_API_AUTH_STRING="); ok {
			srv.auth = v
		}
	}
	logFile, err := os.Create(srv.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A process group of its own, so stopping it takes uvicorn's children along; and the server
	// is told to stop if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", argv, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = logFile.Close()
	})

	deadline := time.Now().Add(timeout)
	var last string
	for {
		select {
		case <-exited:
			t.Fatalf("%v exited before it was healthy\n--- server log\n%s", argv, srv.logTail())
		default:
		}
		status, body, err := srv.call(context.Background(), "GET", "/health", nil)
		if err == nil && status == http.StatusOK {
			t.Logf("%s server at %s (log %s)", cfg.target, srv.origin, srv.log)
			return srv
		}
		last = fmt.Sprintf("status %d %s %v", status, body, err)
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy after %s (last: %s)\n--- server log\n%s", timeout, last, srv.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *server) logTail() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(string(b), "\n")
	return strings.Join(lines[max(0, len(lines)-80):], "\n")
}

// requireUI stops the run early, with one clear message, when the server does not serve a UI:
// otherwise every page would fail the same way.
func (s *server) requireUI(t *testing.T, u ui) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.origin+u.base+"/dashboard", nil)
	req.Header.Set("Accept", "text/html")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(bytes.ToLower(body), []byte("<html")) {
		t.Fatalf("the server does not serve the %s UI: GET %s/dashboard answered %d %q",
			u.name, u.base, res.StatusCode, truncate(string(body), 200))
	}
}

// call sends one request to the API; body, when not nil, is sent as JSON.
func (s *server) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	return s.callWith(ctx, method, path, body, nil)
}

// callWith is call with extra headers.
func (s *server) callWith(ctx context.Context, method, path string, body any, headers map[string]string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.api+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if s.auth != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s.auth)))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = res.Body.Close() }()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

// seed is what testdata/seed.py made, by the names the pages are opened at and look for.
type seed struct {
	PrefectVersion    string `json:"prefect_version"`
	FlowID            string `json:"flow_id"`
	FlowName          string `json:"flow_name"`
	FlowRunID         string `json:"flow_run_id"`
	FlowRunName       string `json:"flow_run_name"`
	FailedTaskRunID   string `json:"failed_task_run_id"`
	FailedTaskRunName string `json:"failed_task_run_name"`
	DeploymentID      string `json:"deployment_id"`
	DeploymentName    string `json:"deployment_name"`
	WorkPoolName      string `json:"work_pool_name"`
	WorkQueueName     string `json:"work_queue_name"`
	ArtifactID        string `json:"artifact_id"`
	ArtifactKey       string `json:"artifact_key"`
	TableArtifactKey  string `json:"table_artifact_key"`
	SecretBlockID     string `json:"secret_block_id"`
	SecretBlockName   string `json:"secret_block_name"`
	JSONBlockName     string `json:"json_block_name"`
	VariableName      string `json:"variable_name"`
	GlobalLimitName   string `json:"global_limit_name"`
	TagLimit          string `json:"tag_limit"`
	AutomationID      string `json:"automation_id"`
	AutomationName    string `json:"automation_name"`
}

const seedMark = "BROWSER_SEED "

// seedWorkspace runs testdata/seed.py with the real client against the server.
func seedWorkspace(t *testing.T, cfg config, srv *server) seed {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "seed.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), seedTimeout)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, cfg.python, script)
	cmd.Dir = home
	cmd.Env = append(cleanEnviron(),
		"PREFECT_API_URL="+srv.api,
		"PREFECT_HOME="+home,
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
		"PREFECT_LOGGING_TO_API_BATCH_INTERVAL=0.3",
		"PYTHONUNBUFFERED=1",
		"PYTHONDONTWRITEBYTECODE=1",
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("seed.py: %v\n--- stdout\n%s\n--- stderr\n%s\n--- server log\n%s",
			err, out, truncateTail(stderr.String(), 6000), srv.logTail())
	}
	var sd seed
	sc := bufio.NewScanner(bytes.NewReader(out))
	found := false
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), seedMark); ok {
			if err := json.Unmarshal([]byte(line), &sd); err != nil {
				t.Fatalf("seed.py result %q: %v", line, err)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("seed.py printed no %q line\n--- stdout\n%s", seedMark, out)
	}
	return sd
}

// prefectRoutes lists Prefect's API routes (METHOD and path template, relative to /api), which
// the recorded calls are named by: the list the API's route-coverage test keeps current from the
// pinned prefect (server/httpapi/testdata/prefect_routes.txt).
func prefectRoutes(t *testing.T) []route {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "server", "httpapi", "testdata", "prefect_routes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var routes []route
	for line := range strings.Lines(string(data)) {
		method, path, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok {
			routes = append(routes, newRoute(method, path))
		}
	}
	if len(routes) < 100 {
		t.Fatalf("prefect_routes.txt lists %d routes, expected Prefect's whole API", len(routes))
	}
	return routes
}

// cleanEnviron is the environment minus every PREFECT_* variable, so nothing of the caller's
// profile leaks into the server or the client.
func cleanEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PREFECT_") {
			env = append(env, kv)
		}
	}
	return env
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func truncateTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
