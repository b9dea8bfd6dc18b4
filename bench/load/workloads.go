package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Options shape the synthetic workloads.
type Options struct {
	TasksPerRun  int // task runs (3 events each) per lifecycle
	LogsPerRun   int // log records in a lifecycle's batch
	EventBatch   int // events per POST /api/events
	LogBatch     int // records per POST /api/logs in the log workload
	ReadLimit    int // page size of the filter reads
	SeedFlowName string
}

// DefaultOptions are the shapes the report describes.
func DefaultOptions() Options {
	return Options{TasksPerRun: 2, LogsPerRun: 5, EventBatch: 10, LogBatch: 20, ReadLimit: 100, SeedFlowName: "bench-seed"}
}

// Workload is one worker's loop body; it runs until it returns or the
// deadline passes between iterations. setup runs once per worker, untimed.
type Workload struct {
	Name  string
	Unit  string // what Ops counts: "runs", "events", "logs", "reads"
	Setup func(ctx context.Context, c *Client, worker int) (Worker, error)
}

// Worker does iterations; Close releases what Setup took (a WebSocket).
type Worker interface {
	Iterate(ctx context.Context, rec *Recorder) error
	Close(rec *Recorder)
}

// Run drives w with clients workers for d and returns the recorder and the
// elapsed time (from start until the last worker finished its iteration and
// closed).
// Requests run to completion past the deadline, so none is cut off into an error.
func Run(ctx context.Context, c *Client, w Workload, clients int, d time.Duration) (*Recorder, time.Duration, error) {
	rec := &Recorder{}
	workers := make([]Worker, clients)
	for i := range workers {
		wk, err := w.Setup(ctx, c, i)
		if err != nil {
			for _, prev := range workers[:i] {
				prev.Close(rec)
			}
			return nil, 0, fmt.Errorf("%s setup: %w", w.Name, err)
		}
		workers[i] = wk
	}
	start := time.Now()
	until := start.Add(d)
	var wg sync.WaitGroup
	for _, wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(until) && ctx.Err() == nil {
				if err := wk.Iterate(ctx, rec); err != nil && errors.Is(err, errFatal) {
					return
				}
			}
		}()
	}
	wg.Wait()
	// The clock stops once every worker has closed: a WebSocket's closing
	// handshake completes only after the server has read what was sent.
	// In parallel, since a busy server may take seconds to answer each.
	for _, wk := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); wk.Close(rec) }()
	}
	wg.Wait()
	elapsed := time.Since(start)
	return rec, elapsed, nil
}

// errFatal ends a worker (its socket is gone); other errors are counted and
// the worker goes on.
var errFatal = errors.New("worker cannot go on")

// ---------------------------------------------------------------- lifecycle

// Lifecycle is a flow run as the client runs it: create (Pending), Running,
// task-run events over /api/events/in, a log batch, Completed. Each worker
// is one client: it creates its flow once and keeps one events socket.
func Lifecycle(o Options) Workload {
	return Workload{Name: "lifecycle", Unit: "runs", Setup: func(ctx context.Context, c *Client, worker int) (Worker, error) {
		var flow struct {
			ID string `json:"id"`
		}
		if err := c.DoRetry(ctx, "POST", "/flows/", map[string]string{"name": "bench-lifecycle"}, &flow); err != nil {
			return nil, err
		}
		ws, err := dialEvents(ctx, c)
		if err != nil {
			return nil, err
		}
		return &lifecycle{c: c, o: o, flowID: flow.ID, ws: ws}, nil
	}}
}

type lifecycle struct {
	c      *Client
	o      Options
	flowID string
	ws     *websocket.Conn
	n      int
}

type stateResult struct {
	Status string `json:"status"`
}

func (l *lifecycle) Iterate(ctx context.Context, rec *Recorder) error {
	l.n++
	var run struct {
		ID string `json:"id"`
	}
	if err := timed(rec, func() error {
		return l.c.Do(ctx, "POST", "/flow_runs/", flowRunCreate(l.flowID, l.n, state("PENDING", "Pending"), []string{"bench"}), &run)
	}); err != nil {
		return err
	}
	if err := l.transition(ctx, rec, run.ID, "RUNNING", "Running"); err != nil {
		return err
	}
	taskRunID := ""
	for t := range l.o.TasksPerRun {
		for _, ev := range taskRunEvents(l.flowID, run.ID, t) {
			if err := sendEvent(ctx, l.ws, ev); err != nil {
				rec.Error(fmt.Errorf("events/in: %w", err))
				return errFatal
			}
			taskRunID = strings.TrimPrefix(ev["resource"].(map[string]string)["prefect.resource.id"], "prefect.task-run.")
		}
	}
	if err := timed(rec, func() error {
		return l.c.Do(ctx, "POST", "/logs/", logBatch(run.ID, taskRunID, l.o.LogsPerRun), nil)
	}); err != nil {
		return err
	}
	if err := l.transition(ctx, rec, run.ID, "COMPLETED", "Completed"); err != nil {
		return err
	}
	rec.Done(1)
	return nil
}

func (l *lifecycle) transition(ctx context.Context, rec *Recorder, id, typ, name string) error {
	var res stateResult
	err := timed(rec, func() error {
		if err := l.c.Do(ctx, "POST", "/flow_runs/"+id+"/set_state", setState(typ, name), &res); err != nil {
			return err
		}
		if res.Status != "ACCEPT" {
			return fmt.Errorf("set_state %s: %s", typ, res.Status)
		}
		return nil
	})
	return err
}

func (l *lifecycle) Close(rec *Recorder) { closeEvents(l.ws, rec) }

// ---------------------------------------------------------------- events

// EventsWS sends plain events over /api/events/in, one per message, as fast
// as the server reads them. An event counts once written to the socket; the
// closing handshake at the end waits for the server to have read them all.
func EventsWS() Workload {
	return Workload{Name: "events-ws", Unit: "events", Setup: func(ctx context.Context, c *Client, worker int) (Worker, error) {
		ws, err := dialEvents(ctx, c)
		if err != nil {
			return nil, err
		}
		return &eventsWS{ws: ws, worker: worker}, nil
	}}
}

type eventsWS struct {
	ws          *websocket.Conn
	worker, seq int
}

func (e *eventsWS) Iterate(ctx context.Context, rec *Recorder) error {
	e.seq++
	if err := sendEvent(ctx, e.ws, plainEvent(e.worker, e.seq)); err != nil {
		rec.Error(fmt.Errorf("events/in: %w", err))
		return errFatal
	}
	rec.Done(1)
	return nil
}

func (e *eventsWS) Close(rec *Recorder) { closeEvents(e.ws, rec) }

// EventsHTTP posts batches of plain events to /api/events.
func EventsHTTP(o Options) Workload {
	return Workload{Name: "events-http", Unit: "events", Setup: func(ctx context.Context, c *Client, worker int) (Worker, error) {
		return &eventsHTTP{c: c, o: o, worker: worker}, nil
	}}
}

type eventsHTTP struct {
	c           *Client
	o           Options
	worker, seq int
}

func (e *eventsHTTP) Iterate(ctx context.Context, rec *Recorder) error {
	batch := make([]map[string]any, e.o.EventBatch)
	for i := range batch {
		e.seq++
		batch[i] = plainEvent(e.worker, e.seq)
	}
	if err := timed(rec, func() error { return e.c.Do(ctx, "POST", "/events", batch, nil) }); err != nil {
		return err
	}
	rec.Done(int64(len(batch)))
	return nil
}

func (e *eventsHTTP) Close(*Recorder) {}

func dialEvents(ctx context.Context, c *Client) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(c.API, "http") + "/events/in"
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"prefect"}, HTTPClient: c.HTTP})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	ws.SetReadLimit(1 << 20)
	// Prefect's handshake on the "prefect" subprotocol: auth, then auth_success.
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)); err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, msg, err := ws.Read(hctx)
	if err != nil {
		return nil, fmt.Errorf("events/in handshake: %w", err)
	}
	var ack struct{ Type string }
	if json.Unmarshal(msg, &ack) != nil || ack.Type != "auth_success" {
		return nil, fmt.Errorf("events/in handshake: %s", msg)
	}
	return ws, nil
}

func sendEvent(ctx context.Context, ws *websocket.Conn, ev map[string]any) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return ws.Write(ctx, websocket.MessageText, b)
}

// closeEvents ends the socket with a normal close; the server's close frame
// comes after it has read every event sent before ours.
func closeEvents(ws *websocket.Conn, rec *Recorder) {
	if ws == nil {
		return
	}
	if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil && !isNormalClose(err) {
		rec.Error(fmt.Errorf("events/in close: %w", err))
	}
}

func isNormalClose(err error) bool {
	s := websocket.CloseStatus(err)
	return s == websocket.StatusNormalClosure || s == websocket.StatusGoingAway
}

// ---------------------------------------------------------------- logs

// Logs posts batches of log records of one flow run to /api/logs.
func Logs(o Options) Workload {
	return Workload{Name: "logs", Unit: "logs", Setup: func(ctx context.Context, c *Client, worker int) (Worker, error) {
		id, err := oneFlowRun(ctx, c, "bench-logs")
		if err != nil {
			return nil, err
		}
		return &logs{c: c, o: o, flowRunID: id}, nil
	}}
}

type logs struct {
	c         *Client
	o         Options
	flowRunID string
}

func (l *logs) Iterate(ctx context.Context, rec *Recorder) error {
	if err := timed(rec, func() error { return l.c.Do(ctx, "POST", "/logs/", logBatch(l.flowRunID, "", l.o.LogBatch), nil) }); err != nil {
		return err
	}
	rec.Done(int64(l.o.LogBatch))
	return nil
}

func (l *logs) Close(*Recorder) {}

func oneFlowRun(ctx context.Context, c *Client, flowName string) (string, error) {
	var flow, run struct {
		ID string `json:"id"`
	}
	if err := c.DoRetry(ctx, "POST", "/flows/", map[string]string{"name": flowName}, &flow); err != nil {
		return "", err
	}
	// Tags never null: Python's server answers "tags": null with a 422.
	err := c.DoRetry(ctx, "POST", "/flow_runs/", flowRunCreate(flow.ID, 0, state("RUNNING", "Running"), []string{}), &run)
	return run.ID, err
}

// ---------------------------------------------------------------- constant

// Constant posts a small JSON body to the root path: the loopback ceiling's
// load, the same client and timing as the server workloads.
func Constant() Workload {
	return Workload{Name: "constant", Unit: "requests", Setup: func(ctx context.Context, c *Client, worker int) (Worker, error) {
		return &constant{c: c}, nil
	}}
}

type constant struct{ c *Client }

func (k *constant) Iterate(ctx context.Context, rec *Recorder) error {
	var res stateResult
	if err := timed(rec, func() error { return k.c.Do(ctx, "POST", "/", setState("RUNNING", "Running"), &res) }); err != nil {
		return err
	}
	rec.Done(1)
	return nil
}

func (k *constant) Close(*Recorder) {}
