// Package httpapi is the server's HTTP and WebSocket surface: the Prefect 3
// REST API under the base path (/api), with the UI (server/ui) on every
// other path. routes.go lists every route; each endpoint is a small typed
// function run through endpoint, which decodes, validates and renders errors
// in Prefect's shapes.
//
// Handlers decode, call the store (reads and plain writes) and the runs
// service (every run creation and state change), and publish events; they
// hold no SQL and no transition rules.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/catalogue"
	"prefectgo.dev/prefectgo/server/metrics"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
)

// Version is the Prefect server version we report: a 3.x the pinned client
// accepts without warning that the server is older than it.
const Version = "3.9.1"

// APIVersion is Prefect's REST API version, unchanged across 3.x.
const APIVersion = "0.8.4"

// Emitter takes the events the server itself produces into the pipeline.
type Emitter interface {
	Emit(ctx context.Context, events ...schema.Event) error
}

// Runs creates runs and changes their states: the runs service
// (server/runs), the one door every state change goes through.
type Runs interface {
	CreateFlowRun(ctx context.Context, run schema.FlowRun) (schema.FlowRun, bool, error)
	CreateScheduledRuns(ctx context.Context, runs []schema.FlowRun) (int, error)
	SetFlowRunState(ctx context.Context, id uuid.UUID, t schema.FlowRunTransition) (schema.TransitionResult, error)
	CreateTaskRun(ctx context.Context, run schema.TaskRun) (schema.TaskRun, bool, error)
	SetTaskRunState(ctx context.Context, id uuid.UUID, t schema.TaskRunTransition) (schema.TransitionResult, error)
}

// WorkPoolChanges learns of the work pool changes the workers' channels
// must see (events.WorkPoolChanges).
type WorkPoolChanges interface {
	PoolUpdated(ctx context.Context, id uuid.UUID)
	PoolDeleted(ctx context.Context, id uuid.UUID)
}

// LogPublisher takes the logs POST /logs stored to the live log stream
// (logstream.Hub); it never waits on a subscriber.
type LogPublisher interface {
	Publish(ctx context.Context, logs []schema.Log)
}

// Deps are the API's collaborators.
type Deps struct {
	Store    store.Store
	Runs     Runs
	Settings settings.Settings
	Log      *slog.Logger
	// Events receives the events the server itself emits.
	Events Emitter
	// EventsIn serves the /events/in WebSocket.
	EventsIn http.Handler
	// EventsOut serves the /events/out WebSocket; nil when stream-out is off.
	EventsOut http.Handler
	// WorkerChannel serves the /work_pools/{pool}/workers/connect WebSocket.
	WorkerChannel http.Handler
	// LogsOut serves the /logs/out WebSocket; nil leaves the route out.
	LogsOut http.Handler
	// Logs receives the logs POST /logs stored; nil publishes none.
	Logs LogPublisher
	// WorkPoolChanges is told of pool updates and deletions; nil tells no one.
	WorkPoolChanges WorkPoolChanges
	// TaskWorkers serves the task workers' WebSocket and list; nil leaves
	// both routes out.
	TaskWorkers TaskWorkers
	// IngestEvents validates and publishes a POST /events batch.
	IngestEvents func(ctx context.Context, body []byte) error
	// UI serves every path outside the base path (server/ui); nil answers
	// them 404.
	UI http.Handler
	// Catalogue holds the collection views and the block catalogue of the
	// prefect package (server/catalogue); nil is an empty one.
	Catalogue *catalogue.Catalogue
	// Now is the clock; nil means the wall clock.
	Now func() time.Time
	// Metrics counts requests and serves /metrics; nil when they are off.
	Metrics *metrics.Metrics
}

// API holds the collaborators the handlers share.
type API struct {
	store     store.Store
	settings  settings.Settings
	log       *slog.Logger
	runs      Runs
	events    Emitter
	eventsIn  http.Handler
	eventsOut http.Handler
	ingest    func(ctx context.Context, body []byte) error
	ui        http.Handler
	catalogue *catalogue.Catalogue
	now       func() time.Time
	metrics   *metrics.Metrics

	// workerChannel serves the worker WebSocket; poolChanges hears of pools.
	workerChannel http.Handler
	poolChanges   WorkPoolChanges
	// taskWorkers is nil when Deps left it out.
	taskWorkers TaskWorkers
	// logsOut serves the live logs; logs publishes to them (nil: off).
	logsOut http.Handler
	logs    LogPublisher
}

// New builds the HTTP handler of the whole server.
func New(d Deps) http.Handler {
	a := newAPI(d)
	return a.middleware(a.routes())
}

func newAPI(d Deps) *API {
	a := &API{store: d.Store, runs: d.Runs, settings: d.Settings, log: d.Log, events: d.Events, eventsIn: d.EventsIn, eventsOut: d.EventsOut,
		workerChannel: d.WorkerChannel, poolChanges: d.WorkPoolChanges, taskWorkers: d.TaskWorkers, ingest: d.IngestEvents, ui: d.UI, catalogue: d.Catalogue,
		now: d.Now, metrics: d.Metrics, logsOut: d.LogsOut, logs: d.Logs}
	if a.ui == nil {
		a.ui = http.HandlerFunc(notFoundRoute)
	}
	if a.catalogue == nil {
		a.catalogue = &catalogue.Catalogue{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a
}

// clock is the current time as Prefect writes it: UTC, microseconds.
func (a *API) clock() time.Time { return a.now().UTC().Truncate(time.Microsecond) }
