package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// The two hottest writes of a flow run, through the whole HTTP handler
// (decode, orchestration, store) on each backend; no network.

func benchHandler(b *testing.B, open storetest.Opener) (http.Handler, uuid.UUID) {
	b.Helper()
	// Assembled as the serve command does (the API needs the runs service),
	// without the background services.
	h := server.New(settings.Defaults(), open(b), slog.New(slog.DiscardHandler)).Handler
	rec := do(b, h, "POST", "/api/flows/", `{"name":"bench"}`, http.StatusCreated)
	var flow struct{ ID uuid.UUID }
	if err := json.Unmarshal(rec.Body.Bytes(), &flow); err != nil {
		b.Fatal(err)
	}
	return h, flow.ID
}

func do(b testing.TB, h http.Handler, method, path, body string, want int) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, bytes.NewBufferString(body)))
	if rec.Code != want {
		b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	return rec
}

func BenchmarkFlowRunCreate(b *testing.B) {
	for name, open := range storetest.Backends() {
		b.Run(name, func(b *testing.B) {
			h, flowID := benchHandler(b, open)
			body := `{"flow_id":"` + flowID.String() + `","state":{"type":"PENDING"},"parameters":{"x":1},"tags":["bench"]}`
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					do(b, h, "POST", "/api/flow_runs/", body, http.StatusCreated)
				}
			})
		})
	}
}

func BenchmarkFlowRunSetState(b *testing.B) {
	for name, open := range storetest.Backends() {
		b.Run(name, func(b *testing.B) {
			h, flowID := benchHandler(b, open)
			create := `{"flow_id":"` + flowID.String() + `","state":{"type":"PENDING"}}`
			b.ReportAllocs()
			b.ResetTimer()
			// Each iteration is one transition; a run goes Pending -> Running
			// -> Completed, then a new run (created off the clock) starts.
			var id string
			for i := range b.N {
				if i%2 == 0 {
					b.StopTimer()
					var run struct{ ID string }
					_ = json.Unmarshal(do(b, h, "POST", "/api/flow_runs/", create, http.StatusCreated).Body.Bytes(), &run)
					id = run.ID
					b.StartTimer()
					do(b, h, "POST", "/api/flow_runs/"+id+"/set_state", `{"state":{"type":"RUNNING"}}`, http.StatusCreated)
				} else {
					do(b, h, "POST", "/api/flow_runs/"+id+"/set_state", `{"state":{"type":"COMPLETED"}}`, http.StatusCreated)
				}
			}
		})
	}
}
