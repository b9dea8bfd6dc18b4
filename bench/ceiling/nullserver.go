package ceiling

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// NullServer is a measuring instrument, not a server: it answers every
// request of the lifecycle workload (bench/load.Lifecycle) as the load
// generator needs it, and stores nothing. It reads each body whole and
// parses it as JSON (work any server does), answers a flow or a flow run
// with its own create body plus an id, a set_state with ACCEPT and the
// proposed state, a log batch with 201, and reads the events sent on
// /api/events/in after Prefect's auth handshake. The lifecycle against it is
// as fast as this machine's loopback, Go's net/http and the WebSocket
// library let the load generator go: the most any server could show in
// this harness. It runs in the harness's process, on 127.0.0.1; the base
// URL it returns ends in /api, as a server's does; stop closes it.
func NullServer() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/flows/", nullCreate)
	mux.HandleFunc("POST /api/flow_runs/", nullCreate)
	mux.HandleFunc("POST /api/flow_runs/{id}/set_state", nullSetState)
	mux.HandleFunc("POST /api/logs/", nullLogs)
	mux.HandleFunc("GET /api/events/in", nullEventsIn)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String() + "/api", func() { _ = srv.Close() }, nil
}

// nullBody parses the request's JSON body into an object; false means it
// answered 422 already.
func nullBody(w http.ResponseWriter, r *http.Request, into any) bool {
	b, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(b, into)
	}
	if err != nil {
		http.Error(w, `{"detail":"not JSON"}`, http.StatusUnprocessableEntity)
		return false
	}
	return true
}

func nullAnswer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// nullCreate answers a flow or flow run create with the body and an id.
func nullCreate(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if !nullBody(w, r, &body) {
		return
	}
	body["id"] = uuid.NewString()
	if st, ok := body["state"].(map[string]any); ok {
		st["id"] = uuid.NewString()
	}
	nullAnswer(w, http.StatusCreated, body)
}

// nullSetState accepts the proposed state, as the orchestration result.
func nullSetState(w http.ResponseWriter, r *http.Request) {
	var body struct {
		State map[string]any `json:"state"`
	}
	if !nullBody(w, r, &body) {
		return
	}
	if body.State == nil {
		http.Error(w, `{"detail":"no state"}`, http.StatusUnprocessableEntity)
		return
	}
	body.State["id"] = uuid.NewString()
	nullAnswer(w, http.StatusCreated, map[string]any{"status": "ACCEPT", "state": body.State, "details": map[string]any{"type": "accept_details"}})
}

func nullLogs(w http.ResponseWriter, r *http.Request) {
	var body []map[string]any
	if !nullBody(w, r, &body) {
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// nullEventsIn does Prefect's handshake on the "prefect" subprotocol (auth,
// then auth_success) and reads events until the client closes.
func nullEventsIn(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"prefect"}})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	ctx := context.Background()
	var auth struct{ Type string }
	_, msg, err := ws.Read(ctx)
	if err != nil || json.Unmarshal(msg, &auth) != nil || auth.Type != "auth" {
		_ = ws.Close(websocket.StatusPolicyViolation, "expected auth")
		return
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"auth_success"}`)); err != nil {
		return
	}
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == -1 && !errors.Is(err, io.EOF) {
				_ = ws.Close(websocket.StatusInternalError, "read failed")
			}
			return
		}
		var ev map[string]any
		if json.Unmarshal(msg, &ev) != nil {
			_ = ws.Close(websocket.StatusUnsupportedData, "not JSON")
			return
		}
	}
}
