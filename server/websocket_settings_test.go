package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
)

// The WebSocket settings reach every socket: the ping interval and timeout
// close a client that answers no ping (1011, as uvicorn does), and
// PREFECT_SERVER_API_MAX_BODY_SIZE bounds a message (the filter, the hello).
func TestWebSocketSettingsReachTheSockets(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, s settings.Settings, st store.Store) {
		s.API.WebsocketPingInterval = 50 * time.Millisecond
		s.API.WebsocketPingTimeout = 100 * time.Millisecond
		s.API.MaxBodySize = 64 << 10
		srv := httptest.NewServer(New(s, st, NewLogger(io.Discard, "ERROR")).Handler)
		t.Cleanup(srv.Close)

		for _, path := range []string{"/api/events/in", "/api/events/out", "/api/work_pools/p/workers/connect", "/api/task_runs/subscriptions/scheduled", "/api/logs/out"} {
			worker := strings.HasSuffix(path, "connect")
			var header []string
			if worker { // it requires the subprotocol and its auth
				header = []string{"Sec-WebSocket-Protocol: prefect"}
			}
			conn, r := rawUpgrade(t, srv.Listener.Addr().String(), path, header...)
			switch {
			case strings.HasSuffix(path, "out"):
				writeRawText(t, conn, `{"type":"filter","filter":{}}`)
			case worker:
				writeRawText(t, conn, `{"type":"auth","token":null}`)
			case strings.HasSuffix(path, "scheduled"):
				writeRawText(t, conn, `{"type":"subscribe","keys":["k"],"client_id":"c"}`)
			}
			// Reading raw bytes answers no ping; the deadline bounds a broken run only.
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
			pings, code := 0, 0
			for code == 0 {
				op, payload := readRawFrame(t, r)
				switch op {
				case 0x9:
					pings++
				case 0x8:
					require.GreaterOrEqual(t, len(payload), 2)
					code = int(binary.BigEndian.Uint16(payload))
					require.Equal(t, "keepalive ping timeout", string(payload[2:]), path)
				}
			}
			require.Equal(t, int(websocket.StatusInternalError), code, path)
			require.Positive(t, pings, path)
		}

		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // bounds a broken run only
		defer cancel()
		for _, path := range []string{"/api/events/out", "/api/logs/out"} {
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+path, nil)
			require.NoError(t, err)
			defer c.CloseNow()
			filter := `{"type":"filter","filter":{"event":{"prefix":["` + strings.Repeat("x", 64<<10) + `"]}}}`
			require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(filter)))
			_, _, err = c.Read(ctx)
			require.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(err), "%s: %v", path, err)
		}

		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/work_pools/p/workers/connect",
			&websocket.DialOptions{Subprotocols: []string{"prefect"}})
		require.NoError(t, err)
		defer c.CloseNow()
		require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)))
		_, _, err = c.Read(ctx)
		require.NoError(t, err)
		hello := `{"type":"worker.hello.v1","payload":{"worker_name":"` + strings.Repeat("x", 64<<10) + `"}}`
		require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(hello)))
		_, _, err = c.Read(ctx)
		require.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(err), "%v", err)
	})
}

// rawUpgrade opens a WebSocket by hand, so that nothing answers pings;
// header lines ("Name: value") are added to the upgrade request.
func rawUpgrade(t *testing.T, addr, path string, header ...string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	extra := ""
	for _, h := range header {
		extra += h + "\r\n"
	}
	_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", path, extra)
	require.NoError(t, err)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	return conn, r
}

// writeRawText sends a short text frame, masked with the zero key.
func writeRawText(t *testing.T, conn net.Conn, text string) {
	t.Helper()
	require.Less(t, len(text), 126)
	_, err := conn.Write(append([]byte{0x81, 0x80 | byte(len(text)), 0, 0, 0, 0}, text...))
	require.NoError(t, err)
}

// readRawFrame reads one unmasked server frame.
func readRawFrame(t *testing.T, r *bufio.Reader) (opcode byte, payload []byte) {
	t.Helper()
	var h [2]byte
	_, err := io.ReadFull(r, h[:])
	require.NoError(t, err)
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, err = io.ReadFull(r, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, err = io.ReadFull(r, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	require.NoError(t, err)
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	require.NoError(t, err)
	return h[0] & 0x0f, payload
}
