package builders

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/internal/testlog"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/sqlite"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestContract starts the real server binary as the rendered container: the
// rendered command, args and environment (Secrets resolved, the pod's volume
// paths pointed at temporary directories), and requires it to serve with
// exactly the intended settings. The migration Job and the CronJobs run
// their containers the same way against the same database, and must exit 0.
func TestContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	bin := buildServer(t)

	usePostgres := func(asURL bool) func(t *testing.T, ps *v1alpha1.PrefectServer, secrets map[string][]byte) {
		return func(t *testing.T, ps *v1alpha1.PrefectServer, secrets map[string][]byte) {
			u, err := url.Parse(storetest.NewPostgresDatabase(t)) // skips without PostgreSQL
			require.NoError(t, err)
			if asURL {
				// The form Python Prefect users have, with a password to
				// redact (the test PostgreSQL trusts local connections).
				u.User = url.UserPassword(u.User.Username(), "url-secret-pw")
				secrets["prefect-postgres/url"] = []byte("postgresql+asyncpg://" + strings.TrimPrefix(u.String(), u.Scheme+"://"))
				ps.Spec.Storage.Postgres = &v1alpha1.PostgresStorage{ConnectionURLSecretRef: secretRef("prefect-postgres", "url")}
				return
			}
			pg := ps.Spec.Storage.Postgres
			require.NotNil(t, pg, "the postgres sample")
			port, err := strconv.Atoi(u.Port())
			require.NoError(t, err)
			pg.Host, pg.Port, pg.User = u.Hostname(), new(int32(port)), u.User.Username()
			pg.Database = strings.TrimPrefix(u.Path, "/")
			pg.SSLMode = u.Query().Get("sslmode")
			if pw, ok := u.User.Password(); ok {
				secrets[pg.PasswordSecretRef.Name+"/"+pg.PasswordSecretRef.Key] = []byte(pw)
			}
		}
	}
	for _, c := range []struct {
		name   string
		sample string
		edit   func(t *testing.T, ps *v1alpha1.PrefectServer, secrets map[string][]byte)
	}{
		{name: "minimal", sample: "minimal"},
		{name: "sqlite", sample: "sqlite"},
		{name: "sqlite with auth and extraEnv", sample: "sqlite", edit: func(t *testing.T, ps *v1alpha1.PrefectServer, secrets map[string][]byte) {
			ps.Spec.API.AuthSecretRef = secretRef("auth", "basic")
			secrets["auth/basic"] = []byte("admin:s3cret")
			ps.Spec.Database.ApplicationName = "prefect-$(NOT_EXPANDED)"
			ps.Spec.Services.DBVacuum.Enabled = []string{}
			ps.Spec.ExtraEnv = []corev1.EnvVar{
				{Name: "PREFECT_SERVER_LOGGING_LEVEL", Value: "ERROR"},
				{Name: "PREFECT_SERVER_UI_STATIC_DIRECTORY", Value: "$(PREFECT_HOME)/ui"},
			}
		}},
		{name: "ui under a serve base", sample: "minimal", edit: func(t *testing.T, ps *v1alpha1.PrefectServer, _ map[string][]byte) {
			ps.Spec.UI.ServeBase = "/prefect"
		}},
		{name: "ephemeral", sample: "minimal", edit: func(t *testing.T, ps *v1alpha1.PrefectServer, _ map[string][]byte) {
			ps.Spec.Storage = v1alpha1.Storage{Ephemeral: &v1alpha1.EphemeralStorage{}}
		}},
		{name: "ingress", sample: "ingress"},
		{name: "sqlite monitored behind auth", sample: "sqlite", edit: func(t *testing.T, ps *v1alpha1.PrefectServer, secrets map[string][]byte) {
			ps.Spec.API.AuthSecretRef = secretRef("auth", "basic")
			secrets["auth/basic"] = []byte("admin:s3cret")
			secrets["scrape/user"], secrets["scrape/password"] = []byte("admin"), []byte("s3cret")
			ps.Spec.Monitoring = &v1alpha1.MonitoringSpec{Enabled: true, BasicAuth: &v1alpha1.MonitoringBasicAuth{
				Username: *secretRef("scrape", "user"), Password: *secretRef("scrape", "password"),
			}}
		}},
		{name: "postgres", sample: "postgres", edit: usePostgres(false)},
		{name: "postgres from a URL Secret", sample: "postgres", edit: usePostgres(true)},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := loadSample(t, "prefectgo_v1alpha1_prefectserver_"+c.sample+".yaml")
			ps := s.server.DeepCopy()
			if c.edit != nil {
				c.edit(t, ps, s.secrets)
			}
			ps.Spec.API.Port = new(int32(freePort(t)))
			ps.Spec.API.ProbePort = new(int32(freePort(t)))
			runContract(t, bin, ps, s.secrets)
		})
	}
}

func runContract(t *testing.T, bin string, ps *v1alpha1.PrefectServer, secrets map[string][]byte) {
	in := Inputs{DefaultImage: "prefectgo:test", SecretData: secrets}
	// The pod's volumes.
	vol := podVolumes{data: t.TempDir(), scratch: t.TempDir(), backup: t.TempDir()}

	if job := MigrationJob(ps, in); job != nil {
		runToCompletion(t, bin, job.Spec.Template.Spec.Containers[0], vol, secrets)
	}

	dep := Deployment(ps, in)
	c := dep.Spec.Template.Spec.Containers[0]
	env := vol.resolve(t, c.Env, secrets)
	srv := startContainer(t, bin, c, env)
	port := apiPort(ps)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	// The probes go to the probe listener, the port the container names for them.
	require.Equal(t, intstr.FromString(ProbePortName), c.LivenessProbe.HTTPGet.Port)
	probes := fmt.Sprintf("http://127.0.0.1:%d", probePort(ps))
	srv.waitHealthy(t, probes+c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "/api/health", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, http.StatusOK, get(t, probes+c.ReadinessProbe.HTTPGet.Path, "", nil), "readiness")
	require.Equal(t, http.StatusOK, get(t, base+c.ReadinessProbe.HTTPGet.Path, "", nil), "readiness on the API port")

	var body map[string]any
	require.Equal(t, http.StatusOK, get(t, base+"/api/admin/settings", env.get("PREFECT_SERVER_API_AUTH_STRING"), &body))
	// By variable, read from the nested shape as Print writes them.
	got := make(map[string]string)
	for _, st := range settings.Table() {
		if v, ok := st.In(body); ok {
			got[st.Env] = v
		}
	}

	// What the server should run with: the rendered environment, read by
	// the same table. Every row, rendered or defaulted, must match.
	want, err := load(env.m)
	require.NoError(t, err)
	for _, st := range settings.Table() {
		require.Equal(t, st.Redacted(want), got[st.Env], "%s", st.Env)
	}
	// And every rendered variable is a setting whose value it decides.
	byEnv := make(map[string]settings.Setting)
	for _, st := range settings.Table() {
		for _, e := range st.Envs() {
			byEnv[e] = st
		}
	}
	for _, e := range env.list {
		name, value, _ := strings.Cut(e, "=")
		st, ok := byEnv[name]
		require.True(t, ok, "%s is not a setting", name)
		require.NoError(t, st.Check(value), "%s", name)
		if !st.Secret {
			parsed, err := load(map[string]string{name: value})
			require.NoError(t, err)
			if st.Name != "database.connection_url" { // resolved with the others
				require.Equal(t, st.Value(parsed), got[st.Env], "%s=%s", name, value)
			}
		}
	}
	// From the other end: every spec field the server runs as the spec says,
	// but for what the operator overrides and what extraEnv overrides.
	overridden := map[string]bool{}
	for _, e := range ps.Spec.ExtraEnv {
		overridden[e.Name] = true
	}
	if hasCronJobs(ps) {
		overridden["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] = true
		overridden["PREFECT_SERVER_SERVICES_RETENTION_ENABLED"] = true
	}
	if ps.Spec.UI.APIURL == "" {
		overridden["PREFECT_SERVER_UI_API_URL"] = true
	}
	if MonitoringEnabled(ps) {
		overridden["PREFECT_SERVER_METRICS_ENABLED"] = true
	}
	walkSettings(reflect.ValueOf(ps.Spec), func(name string, f reflect.Value) {
		st := rows()[name]
		if overridden[st.Env] {
			return
		}
		if ref, ok := f.Interface().(*corev1.SecretKeySelector); ok {
			if ref != nil {
				require.Equal(t, "********", got[st.Env], "%s from a Secret is redacted", st.Env)
			}
			return
		}
		raw, set := formatSetting(f)
		if !set {
			require.Equal(t, st.Redacted(settings.Defaults()), got[st.Env], "unset %s is the default", st.Env)
			return
		}
		parsed, err := load(map[string]string{st.Env: raw})
		require.NoError(t, err)
		require.Equal(t, st.Value(parsed), got[st.Env], "spec %s: %q", name, raw)
	})
	// Spot checks, spelt out.
	require.Equal(t, "0.0.0.0", got["PREFECT_SERVER_API_HOST"])
	require.Equal(t, strconv.Itoa(int(port)), got["PREFECT_SERVER_API_PORT"])
	require.Equal(t, "/api", got["PREFECT_SERVER_API_BASE_PATH"])
	switch StorageKind(ps) {
	case StorageSQLite:
		require.Equal(t, vol.data, got["PREFECT_HOME"])
		require.Equal(t, "sqlite+aiosqlite:///"+vol.data+"/prefect.db", got["PREFECT_SERVER_DATABASE_CONNECTION_URL"])
		require.FileExists(t, filepath.Join(vol.data, "prefect.db"))
	case StorageEphemeral:
		require.Equal(t, vol.scratch, got["PREFECT_HOME"])
		require.Equal(t, "sqlite+aiosqlite:///"+vol.scratch+"/prefect.db", got["PREFECT_SERVER_DATABASE_CONNECTION_URL"])
	case StoragePostgres:
		require.Equal(t, vol.scratch, got["PREFECT_HOME"])
		require.Equal(t, "false", got["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"])
		require.True(t, strings.HasPrefix(got["PREFECT_SERVER_DATABASE_CONNECTION_URL"], "postgres"), got["PREFECT_SERVER_DATABASE_CONNECTION_URL"])
	}
	// The UI is told the API URL the operator derived, and a browser that
	// resolves it against the page it loaded (here the server's own origin,
	// as through a port-forward) reaches the API.
	var uiSettings struct {
		APIURL string `json:"api_url"`
	}
	require.Equal(t, http.StatusOK, get(t, base+uiPath(ps)+"ui-settings", "", &uiSettings))
	require.Equal(t, UIAPIURL(ps), uiSettings.APIURL)
	page, err := url.Parse(base + uiPath(ps))
	require.NoError(t, err)
	apiURL, err := page.Parse(uiSettings.APIURL)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, get(t, apiURL.String()+"/health", "", nil), "the UI's API URL %s", apiURL)
	// What the ServiceMonitor or PodMonitor scrapes, with its credentials:
	// the server's metrics, among them those the alerts read.
	if MonitoringEnabled(ps) {
		require.Equal(t, "true", got["PREFECT_SERVER_METRICS_ENABLED"])
		req, err := http.NewRequest(http.MethodGet, base+MetricsPath, nil)
		require.NoError(t, err)
		if m := ServiceMonitor(ps).Spec.Endpoints[0].BasicAuth; m != nil {
			req.SetBasicAuth(string(secrets[m.Username.Name+"/"+m.Username.Key]), string(secrets[m.Password.Name+"/"+m.Password.Key]))
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		scraped, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "scrape %s: %s", MetricsPath, scraped)
		for _, name := range []string{"prefect_event_persister_backlog", "prefect_flow_runs_late", "prefect_http_requests_total"} {
			require.Contains(t, string(scraped), "\n# TYPE "+name+" ", "the scrape lacks %s", name)
		}
	}
	wantInProcess := strconv.FormatBool(!hasCronJobs(ps))
	require.Equal(t, wantInProcess, got["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"])
	require.Equal(t, wantInProcess, got["PREFECT_SERVER_SERVICES_RETENTION_ENABLED"])
	for _, ref := range secrets {
		for _, v := range got {
			require.NotContains(t, v, string(ref), "a Secret value in /api/admin/settings")
		}
	}

	// The CronJobs' containers, beside the running server as in the cluster.
	cronJobs := CronJobs(ps, in)
	require.Equal(t, hasCronJobs(ps), len(cronJobs) == 2)
	for _, cj := range cronJobs {
		runToCompletion(t, bin, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0], vol, secrets)
	}
	if cj := BackupCronJob(ps, in); cj != nil {
		runBackupAndRestore(t, bin, ps, in, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0], vol, secrets)
	}

	srv.stop(t)
	require.NotContains(t, srv.output(), "ignoring an environment variable", "the server reads every rendered variable")
}

// runBackupAndRestore runs the backup CronJob's container beside the live
// server, then the restore init container of a new server whose
// restoreFrom names that backup: it restores into the empty volume, and
// at the next start leaves the database alone.
func runBackupAndRestore(t *testing.T, bin string, ps *v1alpha1.PrefectServer, in Inputs, c corev1.Container,
	vol podVolumes, secrets map[string][]byte) {
	t.Helper()
	runToCompletion(t, bin, c, vol, secrets)
	backups, err := os.ReadDir(filepath.Join(vol.backup, ps.Name))
	require.NoError(t, err)
	require.Len(t, backups, 1)
	require.NoError(t, sqlite.Verify(t.Context(), filepath.Join(vol.backup, ps.Name, backups[0].Name())))

	restored := ps.DeepCopy()
	restored.Spec.Storage.SQLite.RestoreFrom = ps.Name + "/" + backups[0].Name()
	inits := Deployment(restored, in).Spec.Template.Spec.InitContainers
	require.Len(t, inits, 1)
	fresh := podVolumes{data: t.TempDir(), scratch: t.TempDir(), backup: vol.backup}
	runToCompletion(t, bin, inits[0], fresh, secrets)
	db := filepath.Join(fresh.data, "prefect.db")
	require.NoError(t, sqlite.Verify(t.Context(), db))
	info, err := os.Stat(db)
	require.NoError(t, err)
	runToCompletion(t, bin, inits[0], fresh, secrets)
	again, err := os.Stat(db)
	require.NoError(t, err)
	require.Equal(t, info.ModTime(), again.ModTime(), "the second start replaced the database")
}

// podVolumes are temporary directories standing in for the pod's volumes.
type podVolumes struct{ data, scratch, backup string }

// processEnv is an environment in order (as exec takes it) and by name.
type processEnv struct {
	list []string
	m    map[string]string
}

func (e processEnv) get(name string) string { return e.m[name] }

// resolve is what the kubelet gives the process: Secrets read, $(VAR)
// expanded, plus (our part) the volume mount paths moved to v's directories.
func (v podVolumes) resolve(t *testing.T, env []corev1.EnvVar, secrets map[string][]byte) processEnv {
	t.Helper()
	move := strings.NewReplacer(DataDir+"/", v.data+"/", ScratchDir+"/", v.scratch+"/")
	out := processEnv{m: resolveEnv(t, env, secrets)}
	for _, e := range env {
		value, ok := out.m[e.Name]
		if !ok {
			continue
		}
		if e.ValueFrom == nil {
			switch value {
			case DataDir:
				value = v.data
			case ScratchDir:
				value = v.scratch
			default:
				value = move.Replace(value)
			}
			out.m[e.Name] = value
		}
		out.list = append(out.list, e.Name+"="+value)
	}
	return out
}

func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "prefect-server")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/prefect-server")
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// command is the container's command and args with the image's binary
// replaced by the one built here.
func command(t *testing.T, bin string, c corev1.Container) []string {
	t.Helper()
	argv := append(append([]string(nil), c.Command...), c.Args...)
	require.NotEmpty(t, argv)
	require.Equal(t, ServerBinary, argv[0])
	argv[0] = bin
	return argv
}

func runToCompletion(t *testing.T, bin string, c corev1.Container, vol podVolumes, secrets map[string][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := command(t, bin, c)
	for i, a := range argv {
		if rest, ok := strings.CutPrefix(a, BackupDir+"/"); ok {
			argv[i] = filepath.Join(vol.backup, rest) // the backup volume's mount
		}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = vol.resolve(t, c.Env, secrets).list
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s exited with %v:\n%s", c.Name, strings.Join(c.Command, " "), err, out)
	t.Logf("%s: %s", strings.Join(c.Command, " "), bytes.TrimSpace(out))
}

type process struct {
	cmd  *exec.Cmd
	out  *testlog.Buffer
	done chan struct{}
	err  error
}

func startContainer(t *testing.T, bin string, c corev1.Container, env processEnv) *process {
	t.Helper()
	argv := command(t, bin, c)
	p := &process{cmd: exec.Command(argv[0], argv[1:]...), out: &testlog.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = env.list // exactly the container's environment, nothing inherited
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("server output:\n%s", p.output())
		}
	})
	return p
}

func (p *process) output() string { return p.out.String() }

func (p *process) waitHealthy(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("the server exited (%v) before it was healthy:\n%s", p.err, p.output())
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "not healthy after 30s (%v):\n%s", err, p.output())
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server as the kubelet does, with SIGTERM, and requires a
// clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the server did not stop within 20s of SIGTERM:\n%s", p.output())
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		t.Fatalf("the server exited with %v:\n%s", p.err, p.output())
	}
	require.NoError(t, p.err)
}

func get(t *testing.T, url, basicAuth string, into any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if user, pass, ok := strings.Cut(basicAuth, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if into != nil && resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(into))
	}
	return resp.StatusCode
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
