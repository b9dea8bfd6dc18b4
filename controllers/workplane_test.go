package controllers

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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// What the work-plane tests share: our server binary, started and stopped
// by the test, and waits on the resources' conditions.

var (
	serverBinOnce sync.Once
	serverBin     string
	serverBinErr  error
)

// testServer is our server binary (built once per test run) on a port and
// SQLite database of its own, which a test can stop and start again.
type testServer struct {
	t    *testing.T
	url  string
	auth string
	port int
	dir  string
	env  []string
	cmd  *exec.Cmd
}

// prefectServer starts a server and returns its API URL. auth, when set,
// is the basic auth it requires.
func prefectServer(t *testing.T, auth string) string {
	t.Helper()
	return startServer(t, auth).url
}

// startServer starts a server with the extra environment given.
func startServer(t *testing.T, auth string, env ...string) *testServer {
	t.Helper()
	serverBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "prefect-server-bin")
		if err != nil {
			serverBinErr = err
			return
		}
		serverBin = filepath.Join(dir, "prefect-server")
		out, err := exec.Command("go", "build", "-o", serverBin, "../cmd/prefect-server").CombinedOutput()
		if err != nil {
			serverBinErr = fmt.Errorf("build the server: %v\n%s", err, out)
		}
	})
	require.NoError(t, serverBinErr)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	s := &testServer{t: t, auth: auth, port: port, dir: t.TempDir(), env: env,
		url: fmt.Sprintf("http://127.0.0.1:%d/api", port)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start runs the server (again) and waits until it answers.
func (s *testServer) start() {
	s.t.Helper()
	cmd := exec.Command(serverBin, "serve")
	cmd.Env = append(os.Environ(),
		"PREFECT_SERVER_API_HOST=127.0.0.1", fmt.Sprintf("PREFECT_SERVER_API_PORT=%d", s.port),
		"PREFECT_SERVER_DATABASE_CONNECTION_URL=sqlite+aiosqlite:///"+filepath.Join(s.dir, "prefect.db"),
		"PREFECT_HOME="+s.dir, "PREFECT_SERVER_API_AUTH_STRING="+s.auth, "PREFECT_SERVER_UI_ENABLED=false")
	cmd.Env = append(cmd.Env, s.env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(s.t, cmd.Start())
	s.cmd = cmd
	api := s.api()
	require.Eventually(s.t, func() bool {
		_, err := api.ReadWorkPool(context.Background(), "none")
		return prefectapi.IsNotFound(err)
	}, wait, tick, "the server did not start")
}

// stop kills the server; its database stays for start.
func (s *testServer) stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

func (s *testServer) api() *prefectapi.Client { return prefectapi.New(s.url, s.auth) }

// call sends a request to the server's API the operator's client has no
// method for, requires a success and decodes the answer into out.
func (s *testServer) call(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if s.auth != "" {
		u, p, _ := strings.Cut(s.auth, ":")
		req.SetBasicAuth(u, p)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var raw json.RawMessage
	_ = json.NewDecoder(res.Body).Decode(&raw)
	require.Less(t, res.StatusCode, 300, "%s %s: %s", method, path, raw)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out))
	}
}

// waitForCondition polls the named resource into obj until its condition
// typ has status and reason for the current generation, and returns it.
func waitForCondition[T remoteObject](t *testing.T, b *testBundle, obj T, name, typ string, status metav1.ConditionStatus, reason string) T {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		if !assert.NoError(ct, b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: name}, obj)) {
			return
		}
		st := obj.GetSyncStatus()
		c := meta.FindStatusCondition(st.Conditions, typ)
		assert.True(ct, c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == obj.GetGeneration(),
			"want %s=%s/%s, have %+v", typ, status, reason, st.Conditions)
	}, wait, tick)
	return obj
}

// waitForSynced waits for Synced=True at the current generation.
func waitForSynced[T remoteObject](t *testing.T, b *testBundle, obj T, name string) T {
	t.Helper()
	return waitForCondition(t, b, obj, name, "Synced", metav1.ConditionTrue, ReasonSynced)
}

// update applies mutate to the stored resource, read into obj, retrying conflicts.
func update[T client.Object](b *testBundle, obj T, name string, mutate func(T)) error {
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	for {
		if err := b.c.Get(ctx, client.ObjectKey{Namespace: b.ns, Name: name}, obj); err != nil {
			return err
		}
		mutate(obj)
		err := b.c.Update(ctx, obj)
		if !apierrors.IsConflict(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(tick):
		}
	}
}

// passes waits until the reconciler has made n more passes in the test's
// namespace than it had made when called.
func (b *testBundle) passes(t *testing.T, calls *countingReconciler, n int) {
	t.Helper()
	from := calls.count(b.ns)
	require.Eventually(t, func() bool { return calls.count(b.ns) >= from+n }, wait, tick,
		"the reconciler did not come back %d times", n)
}
