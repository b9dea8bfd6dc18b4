package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"prefectgo.dev/prefectgo/server/catalogue"
	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/events/pgfanout"
	"prefectgo.dev/prefectgo/server/httpapi"
	"prefectgo.dev/prefectgo/server/logstream"
	"prefectgo.dev/prefectgo/server/metrics"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/backend"
	"prefectgo.dev/prefectgo/server/store/postgres"
	"prefectgo.dev/prefectgo/server/taskworkers"
	"prefectgo.dev/prefectgo/server/ui"
)

// service is a background loop the serve command runs beside the API.
type service = services.Service

// App is the server assembled over an open store: the HTTP handler and the
// background services that consume the event pipeline.
type App struct {
	// Handler serves the whole API.
	Handler  http.Handler
	services []service
	// elector runs the singleton services on one replica at a time.
	elector *services.Elector
	broker  *events.Broker
	fanout  *pgfanout.Fanout // nil on SQLite
	logs    *logstream.Hub
	// blocks registers the block catalogue at start; nil when
	// PREFECT_SERVER_REGISTER_BLOCKS_ON_START is off.
	blocks *blockRegistration
}

// LeaderRetry is how often a replica that is not the leader tries to take
// the leadership of the singleton services (PostgreSQL only).
const LeaderRetry = 5 * time.Second

// Leader reports whether this replica runs the singleton services (the
// rows of serviceTable marked leader). On SQLite it is true once started.
func (a *App) Leader() bool { return a.elector.Leader() }

// New assembles the server for settings s over st; its background services
// are the enabled rows of serviceTable.
func New(s settings.Settings, st store.Store, log *slog.Logger) *App {
	var m *metrics.Metrics
	if s.MetricsEnabled {
		m = metrics.New()
	}
	broker := events.NewBroker()
	poolChanges := events.NewWorkPoolChanges()
	logs := newLiveLogs(s)
	// On PostgreSQL, replicas share their events and work pool changes
	// (LISTEN/NOTIFY) and elect a leader for the singleton services (an
	// advisory lock). On SQLite there is one process: it publishes in process
	// and is always the leader.
	var publisher events.Publisher = broker
	var fanout *pgfanout.Fanout
	var lock services.Lock = services.AlwaysLock{}
	if st.Dialect() == "postgresql" {
		cfg, err := backend.PostgresConnConfig(DatabaseConfig(s))
		notifier, ok := st.(pgfanout.Notifier)
		switch {
		case err != nil:
			log.Error("cannot configure the replicas' event fan-out and leader election; running alone", "error", err)
		case !ok:
			log.Error("the PostgreSQL store cannot notify; running alone")
		default:
			fanout = pgfanout.New(pgfanout.Config{Broker: broker, WorkPoolChanges: poolChanges, Logs: logs.relayed(),
				Notifier: notifier, Listen: cfg, Logger: log})
			publisher = fanout
			lock = postgres.NewAdvisoryLock(cfg, postgres.LeaderLockKey)
		}
	}
	// One memory budget for the WebSockets; MaxBodySize bounds a message as
	// it bounds any other request body.
	sock := events.SocketConfig{
		PingInterval:    s.API.WebsocketPingInterval,
		PingTimeout:     s.API.WebsocketPingTimeout,
		MaxMessageBytes: s.API.MaxBodySize,
	}.WithDefaults()
	tw := taskworkers.New(taskworkers.Config{Store: st, AuthString: s.API.AuthString, Socket: sock, Logger: log})
	// The per-replica services (the event consumers) are made before
	// intake, which refuses events while those that write cannot, instead of
	// acknowledging them.
	w := &wiring{s: s, st: st, broker: broker, fanout: fanout, log: log, metrics: m, taskWorkers: tw}
	replica := buildServices(w, false)
	var storing func() error
	for _, svc := range replica {
		if c, ok := svc.(interface{ Err() error }); ok {
			storing = joinErr(storing, c.Err)
		}
	}
	ingestor := events.NewIngestor(events.IngestConfig{
		Publisher: countedPublisher{publisher, m},
		Limits: events.Limits{
			MaxSizeBytes:         s.Events.MaximumSizeBytes,
			MaxRelatedResources:  s.Events.MaximumRelatedResources,
			MaxLabelsPerResource: s.Events.MaximumLabelsPerResource,
			MaxNameLength:        s.Events.MaximumEventNameLength,
		},
		Logger:  log,
		Storing: storing,
	})
	rs := newRuns(s, st, ingestor, m, tw, log)
	workerChannel := events.WorkerChannelHandler(events.WorkerChannelConfig{Store: st, Changes: poolChanges,
		AuthString: s.API.AuthString, Logger: log, Socket: sock})
	cat := catalogue.Load(s.CatalogueDirectory, log)
	app := &App{Handler: httpapi.New(httpapi.Deps{
		Store:           st,
		Runs:            rs,
		Settings:        s,
		Log:             log,
		Events:          ingestor,
		EventsIn:        events.InHandler(events.InConfig{Ingestor: ingestor, AuthString: s.API.AuthString, Logger: log, Socket: sock}),
		EventsOut:       eventsOut(s, sock, broker, st, log),
		WorkerChannel:   workerChannel,
		LogsOut:         logs.out(s, sock, log),
		Logs:            logs.publisher(),
		WorkPoolChanges: poolChanges,
		TaskWorkers:     tw,
		IngestEvents:    ingestor.Ingest,
		UI:              ui.New(s, log),
		Metrics:         m,
		Catalogue:       cat,
	}), broker: broker, fanout: fanout, logs: logs.hub}
	if s.RegisterBlocksOnStart {
		app.blocks = &blockRegistration{catalogue: cat, store: st, events: ingestor, log: log}
	}
	w.runs, w.ingestor, w.api = rs, ingestor, app.Handler
	app.services = replica
	singletons := buildServices(w, true)
	app.elector = services.NewElector("singleton-services", lock, LeaderRetry, singletons, log)
	app.services = append(app.services, app.elector)
	registerGauges(m, app, replica, st)
	return app
}

// registerGauges adds what the metrics read at each scrape: whether this
// replica leads, the event consumers' backlogs and drops, the open event
// subscriptions, and the database pools.
func registerGauges(m *metrics.Metrics, app *App, replica []service, st store.Store) {
	if m == nil {
		return
	}
	m.Gauge("prefect_leader", "1 when this replica runs the singleton services (scheduler, late runs, automations ...).", func() float64 {
		if app.Leader() {
			return 1
		}
		return 0
	})
	m.Gauge("prefect_event_subscriptions", "Open subscriptions to the event stream: the consumers and every /api/events/out client.",
		func() float64 { return float64(app.broker.Subscriptions()) })
	if p := persister(replica); p != nil {
		m.Gauge("prefect_event_persister_backlog", "Events waiting to be written by the event persister.",
			func() float64 { return float64(p.Backlog()) })
		m.Counter("prefect_events_dropped_total", "Events the persister gave up on after failed writes.",
			func() float64 { return float64(p.Dropped()) })
	}
	m.Queues(func(ctx context.Context) ([]metrics.QueueDepth, error) {
		ds, err := st.WorkQueueDepths(ctx)
		out := make([]metrics.QueueDepth, len(ds))
		for i, d := range ds {
			out[i] = metrics.QueueDepth(d)
		}
		return out, err
	}, func(ctx context.Context) (int, error) {
		return st.CountFlowRuns(ctx, schema.Query{FlowRuns: &schema.FlowRunFilter{
			State: &schema.StateFilter{Name: &schema.TextFilter{Any: []string{"Late"}}}}})
	})
	if ps, ok := st.(interface {
		PoolStats() map[string]func() sql.DBStats
	}); ok {
		m.DB(ps.PoolStats())
	}
}

// countedPublisher counts the events taken into the pipeline.
type countedPublisher struct {
	events.Publisher
	m *metrics.Metrics
}

func (p countedPublisher) Publish(ctx context.Context, evs ...schema.Event) error {
	err := p.Publisher.Publish(ctx, evs...)
	if err == nil {
		p.m.EventsReceived(len(evs))
	}
	return err
}

// joinErr is a check failing when either of a and b fails; a may be nil.
func joinErr(a, b func() error) func() error {
	if a == nil {
		return b
	}
	return func() error {
		if err := a(); err != nil {
			return err
		}
		return b()
	}
}

// eventsOut is the /events/out WebSocket, or nil when stream-out is off.
func eventsOut(s settings.Settings, sock events.SocketConfig, broker *events.Broker, st store.Store, log *slog.Logger) http.Handler {
	if !s.Events.StreamOutEnabled {
		return nil
	}
	return events.OutHandler(events.OutConfig{
		Subscriber:       broker,
		Store:            st,
		AuthString:       s.API.AuthString,
		MaxBackfill:      s.Events.MaximumWebsocketBackfill,
		BackfillPageSize: s.Events.WebsocketBackfillPageSize,
		Logger:           log,
		Socket:           sock,
	})
}

// Start starts the background services, then registers the block
// catalogue (PREFECT_SERVER_REGISTER_BLOCKS_ON_START), as Prefect's server
// does before it serves, and with the event persister running to keep the
// block types' events.
func (a *App) Start(ctx context.Context) error {
	for _, svc := range a.services {
		if err := svc.Start(ctx); err != nil {
			return err
		}
	}
	if a.blocks != nil {
		return a.blocks.run(ctx)
	}
	return nil
}

// Stop stops the services after they have written what is queued, in the
// reverse order of Start: the singleton services (and the leader lock) first,
// the event consumers after them, the fan-out last.
func (a *App) Stop() {
	for i := len(a.services) - 1; i >= 0; i-- {
		a.services[i].Stop()
	}
}

// Serve runs the server until ctx ends: it opens (and migrates) the store,
// starts the services, and serves HTTP. A debug mux (the opt-in debug
// listener's; nil for none) gets /debug/events once the services run.
func Serve(ctx context.Context, s settings.Settings, log *slog.Logger, debug *http.ServeMux) error {
	st, err := backend.Open(ctx, DatabaseConfig(s))
	if err != nil {
		return err
	}
	defer st.Close()
	app := New(s, st, log)
	if err := app.Start(ctx); err != nil {
		return err
	}
	// Stop after HTTP has shut down, so the events of the last requests are written.
	defer app.Stop()
	if debug != nil {
		debug.Handle("/debug/events", app.debugEvents())
	}

	ls, err := openListeners(s)
	if err != nil {
		return err
	}
	args := []any{"address", ls.api.Addr().String(), "base_path", s.API.BasePath, "database", st.Dialect()}
	if ls.probe != nil {
		args = append(args, "probe_address", ls.probe.Addr().String())
	}
	log.Info("serving the Prefect API", args...)
	if err := serveListeners(ctx, s, app.Handler, ls, log); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// persister is the event persister among services, nil when it is off.
func persister(services []service) *events.Persister {
	for _, svc := range services {
		if p, ok := svc.(*events.Persister); ok {
			return p
		}
	}
	return nil
}

// debugEvents answers how many events this replica's persister has queued
// and not yet written, as {"persister_backlog": n}: make bench-compare reads
// it as each cell ends, the events the cell left for later.
func (a *App) debugEvents() http.Handler {
	p := persister(a.services)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		backlog := 0
		if p != nil {
			backlog = p.Backlog()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int{"persister_backlog": backlog})
	})
}
