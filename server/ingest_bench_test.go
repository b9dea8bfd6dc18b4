package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// Event ingestion end to end: events sent by a client until the persister
// has stored all of them, over the WebSocket the Prefect client uses and
// through the HTTP batch endpoint, on each backend. ns/op is per event.

func ingestServer(b *testing.B, open storetest.Opener) (*httptest.Server, store.Store) {
	b.Helper()
	st := open(b)
	s := settings.Defaults()
	s.Services.Scheduler.Enabled = false
	app := server.New(s, st, slog.New(slog.DiscardHandler))
	if err := app.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	b.Cleanup(func() { srv.Close(); app.Stop() })
	return srv, st
}

func benchEvent() []byte {
	e := map[string]any{
		"id": uuid.Must(uuid.NewV7()), "occurred": time.Now().UTC().Format(time.RFC3339Nano), "event": "prefect.task-run.Completed",
		"resource": map[string]string{"prefect.resource.id": "prefect.task-run." + uuid.NewString(), "prefect.resource.name": "t"},
		"related":  []map[string]string{{"prefect.resource.id": "prefect.flow-run." + uuid.NewString(), "prefect.resource.role": "flow-run"}},
		"payload":  map[string]any{"intended": map[string]string{"from": "RUNNING", "to": "COMPLETED"}},
	}
	raw, _ := json.Marshal(e)
	return raw
}

// waitStored waits until the store holds want events; the deadline only
// bounds a broken run.
func waitStored(b *testing.B, st store.Store, want int) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		n, err := st.CountEvents(context.Background(), store.EventFilter{Names: []string{"prefect.task-run.Completed"}})
		if err != nil {
			b.Fatal(err)
		}
		if n >= want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("events not stored in time (want %d)", want)
}

func BenchmarkIngestWebSocket(b *testing.B) {
	for name, open := range storetest.Backends() {
		b.Run(name, func(b *testing.B) {
			srv, st := ingestServer(b, open)
			ctx := context.Background()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/events/in",
				&websocket.DialOptions{Subprotocols: []string{"prefect"}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)); err != nil {
				b.Fatal(err)
			}
			if _, _, err := c.Read(ctx); err != nil {
				b.Fatal(err)
			}
			events := make([][]byte, b.N)
			for i := range events {
				events[i] = benchEvent()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, e := range events {
				if err := c.Write(ctx, websocket.MessageText, e); err != nil {
					b.Fatal(err)
				}
			}
			waitStored(b, st, b.N)
		})
	}
}

func BenchmarkIngestHTTPBatch(b *testing.B) {
	const batch = 100
	for name, open := range storetest.Backends() {
		b.Run(name, func(b *testing.B) {
			srv, st := ingestServer(b, open)
			var bodies [][]byte
			for sent := 0; sent < b.N; sent += batch {
				var buf bytes.Buffer
				buf.WriteByte('[')
				for i := 0; i < batch && sent+i < b.N; i++ {
					if i > 0 {
						buf.WriteByte(',')
					}
					buf.Write(benchEvent())
				}
				buf.WriteByte(']')
				bodies = append(bodies, buf.Bytes())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, body := range bodies {
				resp, err := http.Post(srv.URL+"/api/events", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					b.Fatal(fmt.Sprint("status ", resp.StatusCode))
				}
			}
			waitStored(b, st, b.N)
		})
	}
}
