package prefectapi

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Each call opens its own connection, so one that reached the wrong place
// (a Service called before its routing was in place) is not used again.
func TestEachCallOpensAConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"id": "x", "name": "default"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	c := New(srv.URL+"/api", "")
	for range 3 {
		if _, err := c.ReadWorkPool(t.Context(), "default"); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("3 calls opened %d connections, want 3", n)
	}
}
