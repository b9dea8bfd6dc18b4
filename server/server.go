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

// listen opens the API socket, accepting at most max connections at once
// (PREFECT_SERVER_API_MAX_CONNECTIONS); further clients wait in the backlog.
func listen(s settings.Settings) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(s.API.Host, strconv.Itoa(s.API.Port)))
	if err != nil {
		return nil, err
	}
	if s.API.MaxConnections > 0 {
		l = &limitListener{Listener: l, slots: make(chan struct{}, s.API.MaxConnections)}
	}
	return l, nil
}

// httpServer applies the keep-alive timeout: an idle connection is closed
// after PREFECT_SERVER_API_KEEPALIVE_TIMEOUT, as uvicorn does.
func httpServer(s settings.Settings, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		IdleTimeout:       s.API.KeepAliveTimeout,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
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
