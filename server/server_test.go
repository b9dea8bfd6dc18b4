package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
)

// An idle keep-alive connection is closed by the server after
// PREFECT_SERVER_API_KEEPALIVE_TIMEOUT.
func TestKeepAliveTimeoutClosesIdleConnections(t *testing.T) {
	t.Parallel()
	s := settings.Defaults()
	s.API.Host, s.API.Port = "127.0.0.1", 0
	s.API.KeepAliveTimeout = 100 * time.Millisecond
	l, err := listen(s.API.Host, s.API.Port, s.API.MaxConnections)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "true") })
	go func() { _ = serveHTTP(ctx, httpServer(s, ok, NewLogger(io.Discard, "ERROR")), l) }()

	conn, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
	require.NoError(t, err)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, resp.Close, "the server keeps the connection open after the response")

	// Now idle: the server must hang up. The deadline only bounds the wait.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = r.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the idle connection is closed by the server")
}

// At most PREFECT_SERVER_API_MAX_CONNECTIONS connections are served at once;
// the next is accepted only when one closes.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	s := settings.Defaults()
	s.API.Host, s.API.Port, s.API.MaxConnections = "127.0.0.1", 0, 1
	l, err := listen(s.API.Host, s.API.Port, s.API.MaxConnections)
	require.NoError(t, err)
	defer l.Close()

	first, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	a := <-accepted
	second, err := net.Dial("tcp", l.Addr().String()) // queued in the backlog
	require.NoError(t, err)
	defer second.Close()
	select {
	case <-accepted:
		t.Fatal("a second connection was accepted while the limit of 1 was taken")
	case <-time.After(200 * time.Millisecond):
	}
	require.NoError(t, a.Close())
	first.Close()
	b := <-accepted // released: the queued connection is taken now
	b.Close()
}

func TestNewLoggerLevels(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	log := NewLogger(&buf, "WARNING")
	log.Info("hidden")
	log.Warn("shown")
	require.NotContains(t, buf.String(), "hidden")
	require.Contains(t, buf.String(), "shown")
}
