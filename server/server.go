// Package server assembles the Prefect server: the store, the event
// pipeline and its services, and the HTTP API, configured by one
// settings.Settings. The cmd/prefect-server subcommands call into here.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/backend"
	"prefectgo.dev/prefectgo/server/store/postgres"
)

// NewLogger logs text lines at the Prefect level name (DEBUG ... CRITICAL).
func NewLogger(w io.Writer, level string) *slog.Logger {
	l := slog.LevelWarn
	switch strings.ToUpper(level) {
	case "DEBUG":
		l = slog.LevelDebug
	case "INFO":
		l = slog.LevelInfo
	case "ERROR", "CRITICAL":
		l = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// DatabaseConfig maps the database settings onto the store's.
func DatabaseConfig(s settings.Settings) backend.Config {
	return backend.Config{
		URL:               s.Database.ConnectionURL,
		PoolSize:          s.Database.PoolSize,
		MaxOverflow:       s.Database.MaxOverflow,
		PoolRecycle:       s.Database.PoolRecycle,
		StatementTimeout:  s.Database.Timeout,
		ConnectionTimeout: s.Database.ConnectionTimeout,
		MigrationTimeout:  s.Database.MigrationTimeout,
		ApplicationName:   s.Database.ApplicationName,
		SearchPath:        s.Database.SearchPath,
		EncryptionKey:     s.EncryptionKey,
		TLS:               postgres.TLS(s.Database.TLS),
		Migrate:           s.Database.MigrateOnStart,
	}
}

// Migrate applies pending migrations and reports what it did.
func Migrate(ctx context.Context, s settings.Settings, out io.Writer) error {
	applied, err := backend.Migrate(ctx, DatabaseConfig(s))
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		_, err = fmt.Fprintln(out, "database is up to date")
		return err
	}
	_, err = fmt.Fprintf(out, "applied migrations %v\n", applied)
	return err
}

// probeConnections is the probe listener's own connection budget: the
// kubelet opens one short connection per probe, and no API client shares it.
const probeConnections = 4

// listeners are the sockets the server answers on: the API, and the probe
// listener (nil while PREFECT_SERVER_API_PROBE_PORT is 0).
type listeners struct{ api, probe net.Listener }

func openListeners(s settings.Settings) (listeners, error) {
	api, err := listen(s.API.Host, s.API.Port, s.API.MaxConnections)
	if err != nil || s.API.ProbePort == 0 {
		return listeners{api: api}, err
	}
	probe, err := listen(s.API.Host, s.API.ProbePort, probeConnections)
	if err != nil {
		_ = api.Close()
		return listeners{}, fmt.Errorf("probe listener: %w", err)
	}
	return listeners{api: api, probe: probe}, nil
}

// listen opens a socket accepting at most max connections at once (none when
// max is 0); further clients wait in the backlog.
func listen(host string, port, max int) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	if max > 0 {
		l = newLimitListener(l, max)
	}
	return l, nil
}

// httpServer bounds what a client may hold a connection for, so slow or idle
// clients cannot take every slot of PREFECT_SERVER_API_MAX_CONNECTIONS:
// PREFECT_SERVER_API_READ_HEADER_TIMEOUT for the headers (from the connection
// or the request's first byte), PREFECT_SERVER_API_REQUEST_TIMEOUT for the
// rest (requestDeadline), and PREFECT_SERVER_API_KEEPALIVE_TIMEOUT between
// requests, as uvicorn's keep-alive timeout; 0 closes the connection after
// each response instead of never.
func httpServer(s settings.Settings, h http.Handler, log *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           requestDeadline(h, s.API.RequestTimeout, log),
		ReadHeaderTimeout: s.API.ReadHeaderTimeout,
		IdleTimeout:       s.API.KeepAliveTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if s.API.KeepAliveTimeout <= 0 {
		srv.SetKeepAlivesEnabled(false)
	}
	return srv
}

// probesOnly passes the health and readiness probes to h and answers 404 to
// anything else, so the probe listener is no way around the API's limits.
func probesOnly(basePath string, h http.Handler) http.Handler {
	base := strings.TrimSuffix(basePath, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimSuffix(r.URL.Path, "/")
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && (p == base+"/health" || p == base+"/ready") {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"detail":"Not Found"}`+"\n")
	})
}

// serveListeners serves h on the API listener, and the probes on the probe
// listener, until ctx ends or one of them fails.
func serveListeners(ctx context.Context, s settings.Settings, h http.Handler, ls listeners, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	n := 1
	go func() { errc <- serveHTTP(ctx, httpServer(s, h, log), ls.api) }()
	if ls.probe != nil {
		n++
		go func() { errc <- serveHTTP(ctx, httpServer(s, probesOnly(s.API.BasePath, h), log), ls.probe) }()
	}
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
		cancel()
	}
	return first
}

// serveHTTP serves until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, srv *http.Server, l net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
