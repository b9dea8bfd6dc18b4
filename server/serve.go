package server

import (
	"context"
	"errors"
	"log/slog"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/httpapi"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/backend"
)

// service is a background loop the serve command runs beside the API.
type service interface {
	Start(ctx context.Context) error
	Stop()
}

// Serve runs the server until ctx ends: it opens (and migrates) the store,
// starts the event pipeline's services, and serves HTTP.
func Serve(ctx context.Context, s settings.Settings, log *slog.Logger) error {
	st, err := backend.Open(ctx, DatabaseConfig(s))
	if err != nil {
		return err
	}
	defer st.Close()

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

	var services []service
	if s.Services.EventPersister.Enabled {
		services = append(services, events.NewPersister(broker, st, events.PersisterConfig{
			BatchSize: s.Services.EventPersister.BatchSize,
			QueueSize: s.Services.EventPersister.QueueMaxSize,
		}, log))
	}
	if s.Services.TaskRunRecorder.Enabled {
		services = append(services, events.NewRecorder(broker, st, events.RecorderConfig{
			BatchSize: s.Services.TaskRunRecorder.BatchSize,
		}, log))
	}
	for _, svc := range services {
		if err := svc.Start(ctx); err != nil {
			return err
		}
	}
	// Stop after HTTP has shut down, so the events of the last requests are written.
	defer func() {
		for _, svc := range services {
			svc.Stop()
		}
	}()

	handler := httpapi.New(httpapi.Deps{
		Store:        st,
		Settings:     s,
		Log:          log,
		Events:       ingestor,
		EventsIn:     events.InHandler(events.InConfig{Ingestor: ingestor, AuthString: s.API.AuthString, Logger: log}),
		IngestEvents: ingestor.Ingest,
	})
	l, err := listen(s)
	if err != nil {
		return err
	}
	log.Info("serving the Prefect API", "address", l.Addr().String(), "base_path", s.API.BasePath, "database", st.Dialect())
	if err := serveHTTP(ctx, httpServer(s, handler, log), l); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
