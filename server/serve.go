package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/httpapi"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/backend"
)

// service is a background loop the serve command runs beside the API.
type service interface {
	Start(ctx context.Context) error
	Stop()
}

// App is the server assembled over an open store: the HTTP handler and the
// background services that consume the event pipeline.
type App struct {
	// Handler serves the whole API.
	Handler  http.Handler
	services []service
}

// New assembles the server for settings s over st.
func New(s settings.Settings, st store.Store, log *slog.Logger) *App {
	broker := events.NewBroker()
	ingestor := events.NewIngestor(events.IngestConfig{
		Publisher: broker,
		Limits: events.Limits{
			MaxSizeBytes:         s.Events.MaximumSizeBytes,
			MaxRelatedResources:  s.Events.MaximumRelatedResources,
			MaxLabelsPerResource: s.Events.MaximumLabelsPerResource,
			MaxNameLength:        s.Events.MaximumEventNameLength,
		},
		Logger: log,
	})
	app := &App{Handler: httpapi.New(httpapi.Deps{
		Store:        st,
		Settings:     s,
		Log:          log,
		Events:       ingestor,
		EventsIn:     events.InHandler(events.InConfig{Ingestor: ingestor, AuthString: s.API.AuthString, Logger: log}),
		IngestEvents: ingestor.Ingest,
	})}
	if s.Services.EventPersister.Enabled {
		app.services = append(app.services, events.NewPersister(broker, st, events.PersisterConfig{
			BatchSize: s.Services.EventPersister.BatchSize,
			QueueSize: s.Services.EventPersister.QueueMaxSize,
		}, log))
	}
	if s.Services.TaskRunRecorder.Enabled {
		app.services = append(app.services, events.NewRecorder(broker, st, events.RecorderConfig{
			BatchSize: s.Services.TaskRunRecorder.BatchSize,
		}, log))
	}
	if s.Services.Retention.Enabled {
		r := retention(s, st)
		app.services = append(app.services, services.NewLoop("retention", s.Services.Retention.LoopSeconds, func(ctx context.Context) error {
			res, err := r.RunOnce(ctx)
			if res.Events > 0 {
				log.Info("retention pass", "deleted_events", res.Events, "deleted_resources", res.Resources)
			}
			return err
		}, log))
	}
	if s.Services.Repossessor.Enabled {
		r := services.Repossessor{Store: st, Waits: store.SlotWaits{
			Tag: s.Tasks.TagConcurrencySlotWaitSeconds, Max: s.Concurrency.MaximumConcurrencySlotWaitSeconds}}
		app.services = append(app.services, services.NewLoop("repossessor", s.Services.Repossessor.LoopSeconds, func(ctx context.Context) error {
			n, err := r.RunOnce(ctx)
			if n > 0 {
				log.Info("repossessor pass", "reclaimed_leases", n)
			}
			return err
		}, log))
	}
	app.services = append(app.services, runServices(s, st, ingestor, log)...)
	return app
}

// Start starts the background services.
func (a *App) Start(ctx context.Context) error {
	for _, svc := range a.services {
		if err := svc.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops the services after they have written what is queued.
func (a *App) Stop() {
	for _, svc := range a.services {
		svc.Stop()
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

	l, err := listen(s)
	if err != nil {
		return err
	}
	log.Info("serving the Prefect API", "address", l.Addr().String(), "base_path", s.API.BasePath, "database", st.Dialect())
	if err := serveHTTP(ctx, httpServer(s, app.Handler, log), l); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
