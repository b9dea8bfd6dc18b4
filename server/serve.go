package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"prefectgo.dev/prefectgo/server/catalogue"
	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/events/pgfanout"
	"prefectgo.dev/prefectgo/server/httpapi"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/backend"
	"prefectgo.dev/prefectgo/server/store/postgres"
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
	broker := events.NewBroker()
	// On PostgreSQL, replicas share their events (LISTEN/NOTIFY) and elect a
	// leader for the singleton services (an advisory lock). On SQLite there
	// is one process: it publishes in process and is always the leader.
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
			fanout = pgfanout.New(pgfanout.Config{Broker: broker, Notifier: notifier, Listen: cfg, Logger: log})
			publisher = fanout
			lock = postgres.NewAdvisoryLock(cfg, postgres.LeaderLockKey)
		}
	}
	// The per-replica services (the event consumers) are made before
	// intake, which refuses events while those that write cannot, instead of
	// acknowledging them.
	w := &wiring{s: s, st: st, broker: broker, fanout: fanout, log: log}
	replica := buildServices(w, false)
	var storing func() error
	for _, svc := range replica {
		if c, ok := svc.(interface{ Err() error }); ok {
			storing = joinErr(storing, c.Err)
		}
	}
	ingestor := events.NewIngestor(events.IngestConfig{
		Publisher: publisher,
		Limits: events.Limits{
			MaxSizeBytes:         s.Events.MaximumSizeBytes,
			MaxRelatedResources:  s.Events.MaximumRelatedResources,
			MaxLabelsPerResource: s.Events.MaximumLabelsPerResource,
			MaxNameLength:        s.Events.MaximumEventNameLength,
		},
		Logger:  log,
		Storing: storing,
	})
	// One memory budget for both WebSockets; MaxBodySize bounds a message as
	// it bounds any other request body.
	sock := events.SocketConfig{
		PingInterval:    s.API.WebsocketPingInterval,
		PingTimeout:     s.API.WebsocketPingTimeout,
		MaxMessageBytes: s.API.MaxBodySize,
	}.WithDefaults()
	rs := newRuns(s, st, ingestor, log)
	cat := catalogue.Load(s.CatalogueDirectory, log)
	app := &App{Handler: httpapi.New(httpapi.Deps{
		Store:        st,
		Runs:         rs,
		Settings:     s,
		Log:          log,
		Events:       ingestor,
		EventsIn:     events.InHandler(events.InConfig{Ingestor: ingestor, AuthString: s.API.AuthString, Logger: log, Socket: sock}),
		EventsOut:    eventsOut(s, sock, broker, st, log),
		IngestEvents: ingestor.Ingest,
		UI:           ui.New(s, log),
		Catalogue:    cat,
	}), broker: broker, fanout: fanout}
	if s.RegisterBlocksOnStart {
		app.blocks = &blockRegistration{catalogue: cat, store: st, events: ingestor, log: log}
	}
	w.runs = rs
	app.services = replica
	singletons := buildServices(w, true)
	app.elector = services.NewElector("singleton-services", lock, LeaderRetry, singletons, log)
	app.services = append(app.services, app.elector)
	return app
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
// starts the services, and serves HTTP.
func Serve(ctx context.Context, s settings.Settings, log *slog.Logger) error {
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
