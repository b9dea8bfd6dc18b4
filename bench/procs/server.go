package procs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"prefectgo.dev/prefectgo/server/store/sqlstore"
)

// Implementation names the two servers under comparison.
const (
	Ours   = "ours"
	Python = "python"
)

// Spec says which server to start and how.
type Spec struct {
	Impl    string // Ours or Python
	Backend string // "sqlite" or "postgres"
	// OursBin is bin/prefect-server; Venv the virtualenv holding prefect.
	OursBin string
	Venv    string
	// PostgresURL is the admin URL of the cluster on which a fresh database
	// is created per start (hack/postgres.sh url).
	PostgresURL string
	// Env is added to the server's environment.
	Env []string
	// StartTimeout bounds the wait for /api/health.
	StartTimeout time.Duration
}

// Name is how reports label the server: "ours/sqlite", "python/postgres".
func (s Spec) Name() string { return s.Impl + "/" + s.Backend }

// Server is a running server under test.
type Server struct {
	Spec    Spec
	APIURL  string // http://127.0.0.1:<port>/api
	Pid     int
	Started time.Duration // from exec to a healthy /api/health
	LogPath string
	// DebugAddr is our server's debug listener (PREFECTGO_PPROF_ADDR): its
	// CPU profile and its store's statement counts. Empty for Python's.
	DebugAddr string

	cmd     *exec.Cmd
	workdir string
	dbName  string
	exited  chan struct{}
}

// Start starts a server on a free port with a fresh database in a new
// temporary directory, and returns once /api/health answers 200.
func Start(ctx context.Context, spec Spec) (*Server, error) {
	workdir, err := os.MkdirTemp("", "benchcompare-"+spec.Impl+"-"+spec.Backend+"-")
	if err != nil {
		return nil, err
	}
	s := &Server{Spec: spec, workdir: workdir, LogPath: filepath.Join(workdir, "server.log"), exited: make(chan struct{})}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var dbURL string
	switch spec.Backend {
	case "sqlite":
		dbURL = "sqlite+aiosqlite:///" + filepath.Join(workdir, "prefect.db")
	case "postgres":
		if s.dbName, dbURL, err = createDatabase(ctx, spec.PostgresURL); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown backend %q", spec.Backend)
	}

	var argv []string
	var env []string
	switch spec.Impl {
	case Ours:
		argv = []string{spec.OursBin, "serve"}
		if s.DebugAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		env = append(env, "PREFECTGO_PPROF_ADDR="+s.DebugAddr)
	case Python:
		argv = []string{filepath.Join(spec.Venv, "bin", "prefect"), "server", "start", "--host", "127.0.0.1", "--port", fmt.Sprint(port)}
	default:
		return nil, fmt.Errorf("unknown server %q", spec.Impl)
	}
	log, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = workdir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(cleanEnv(),
		"PREFECT_HOME="+filepath.Join(workdir, "home"),
		"PREFECT_SERVER_API_HOST=127.0.0.1",
		fmt.Sprintf("PREFECT_SERVER_API_PORT=%d", port),
		"PREFECT_SERVER_DATABASE_CONNECTION_URL="+dbURL,
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
		"PREFECT_SERVER_UI_ENABLED=false",
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Env = append(cmd.Env, spec.Env...)
	// A process group of its own, so Stop takes uvicorn's children along, and
	// the kernel stops it if the harness dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		s.dropDatabase()
		return nil, err
	}
	s.cmd, s.Pid = cmd, cmd.Process.Pid
	go func() { _ = cmd.Wait(); close(s.exited) }()
	s.APIURL = fmt.Sprintf("http://127.0.0.1:%d/api", port)

	timeout := spec.StartTimeout
	if timeout == 0 {
		timeout = 120 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-s.exited:
			s.Stop()
			return nil, fmt.Errorf("%s exited before it was healthy; log %s:\n%s", spec.Name(), s.LogPath, s.LogTail(30))
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if healthy(s.APIURL) {
			s.Started = time.Since(begin)
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("%s not healthy after %s; log:\n%s", spec.Name(), timeout, s.LogTail(30))
		}
	}
}

func healthy(api string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(api + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Usage is the server's process tree usage now.
func (s *Server) Usage() Usage { return TreeUsage(s.Pid) }

// Stop ends the server's process group (SIGTERM, then SIGKILL after 15 s),
// drops its database and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil {
		_ = syscall.Kill(-s.Pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-s.Pid, syscall.SIGKILL)
			<-s.exited
		}
		// Children that outlived the leader (uvicorn workers) share its group.
		_ = syscall.Kill(-s.Pid, syscall.SIGKILL)
	}
	s.dropDatabase()
	if os.Getenv("BENCH_KEEP_WORKDIR") == "" {
		_ = os.RemoveAll(s.workdir)
	}
}

// LogTail is the end of the server's log, for error messages.
func (s *Server) LogTail(lines int) string {
	b, _ := os.ReadFile(s.LogPath)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// CountLogLines counts the lines of the server's log containing substr.
func (s *Server) CountLogLines(substr string) int {
	b, _ := os.ReadFile(s.LogPath)
	return strings.Count(string(b), substr)
}

// StoreCounts reads how many statements and write transactions our server's
// store has sent since it started (its /debug/sqlstore).
func (s *Server) StoreCounts(ctx context.Context) (sqlstore.Counts, error) {
	var c sqlstore.Counts
	err := s.debugGet(ctx, "/debug/sqlstore", &c)
	return c, err
}

// PersisterBacklog reads how many events our server's persister has queued
// and not yet written (its /debug/events).
func (s *Server) PersisterBacklog(ctx context.Context) (int64, error) {
	var out struct {
		Backlog int64 `json:"persister_backlog"`
	}
	err := s.debugGet(ctx, "/debug/events", &out)
	return out.Backlog, err
}

// debugGet decodes the JSON that our server's debug listener answers at path.
func (s *Server) debugGet(ctx context.Context, path string, out any) error {
	if s.DebugAddr == "" {
		return fmt.Errorf("%s has no debug listener", s.Spec.Name())
	}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+s.DebugAddr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv is the harness's environment minus PREFECT_*, so nothing from the
// caller's profile reaches a server.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PREFECT_") && !strings.HasPrefix(kv, "PREFECTGO_") {
			out = append(out, kv)
		}
	}
	return out
}

// createDatabase creates bench_<random> on the cluster at admin and returns
// its name and the server's connection URL for it.
func createDatabase(ctx context.Context, admin string) (name, serverURL string, err error) {
	if admin == "" {
		return "", "", errors.New("postgres backend needs the cluster URL (hack/postgres.sh url)")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name = "bench_" + hex.EncodeToString(b)
	if err := adminExec(ctx, admin, `CREATE DATABASE "`+name+`"`); err != nil {
		return "", "", err
	}
	return name, ServerURL(admin, name), nil
}

// ServerURL is the admin URL pointed at database name, in the
// postgresql+asyncpg form both servers accept.
func ServerURL(admin, name string) string {
	u, _ := url.Parse(admin)
	u.Scheme = "postgresql+asyncpg"
	u.Path = "/" + name
	u.RawQuery = "" // asyncpg rejects sslmode=disable; the cluster is on loopback
	return u.String()
}

// DatabaseURL is the admin URL pointed at database name, for pgx.
func DatabaseURL(admin, name string) string {
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

// CreateDatabase makes a fresh database for a ceiling run; drop it with DropDatabase.
func CreateDatabase(ctx context.Context, admin string) (string, error) {
	name, _, err := createDatabase(ctx, admin)
	return name, err
}

// DropDatabase drops name, closing whatever connections are left.
func DropDatabase(admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = adminExec(ctx, admin, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
}

func (s *Server) dropDatabase() {
	if s.dbName != "" {
		DropDatabase(s.Spec.PostgresURL, s.dbName)
		s.dbName = ""
	}
}

func adminExec(ctx context.Context, admin, sql string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", admin, err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
