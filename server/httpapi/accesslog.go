package httpapi

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// accessLog logs one DEBUG line per request (method, route pattern under
// the base path, or the path when no route matched; status; duration) and
// counts it in the metrics (by pattern only: a path would put ids in
// labels). Patterns keep the lines free of ids and query strings. With
// neither on, the handler is returned as is, so it costs nothing.
func (a *API) accessLog(next http.Handler) http.Handler {
	logs := a.logsAccess()
	if !logs && a.metrics == nil {
		return next
	}
	base := strings.TrimSuffix(a.settings.API.BasePath, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &accessRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), accessKey{}, rec)))
		elapsed := time.Since(start)
		route, counted := r.URL.Path, "unmatched"
		if rec.pattern != "" {
			_, pattern, _ := strings.Cut(rec.pattern, " ") // the method is its own attribute
			route = base + pattern
			counted = route
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http sends 200
		}
		a.metrics.Request(r.Method, counted, status, elapsed)
		if logs {
			a.log.Debug("request", "method", r.Method, "route", route, "status", status, "duration", elapsed)
		}
	})
}

func (a *API) logsAccess() bool { return a.log.Enabled(context.Background(), slog.LevelDebug) }

// accessKey carries the request's recorder down to the route table's mux,
// the only place that knows the pattern a request matched.
type accessKey struct{}

// notingPattern serves mux and records, for the access log, the pattern it
// matched (mux sets r.Pattern on the request it is given). The catch-all
// "/" is left out: for a 404 the path says more. authenticate, which
// matches before mux serves, records the pattern of what it refuses.
func (a *API) notingPattern(mux *http.ServeMux) http.Handler {
	if !a.logsAccess() && a.metrics == nil {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		noteRoute(r, r.Pattern)
	})
}

// noteRoute records pattern as r's route for the access log, if it is on.
func noteRoute(r *http.Request, pattern string) {
	if rec, ok := r.Context().Value(accessKey{}).(*accessRecorder); ok && pattern != "/" {
		rec.pattern = pattern
	}
}

// accessRecorder notes the status a handler sends.
type accessRecorder struct {
	http.ResponseWriter
	status  int
	pattern string
}

func (rec *accessRecorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

func (rec *accessRecorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *accessRecorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.ResponseWriter.Write(p)
}

// Hijack hands the connection to a WebSocket, whose handshake answered 101.
func (rec *accessRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(rec.ResponseWriter).Hijack()
	if err == nil && rec.status == 0 {
		rec.status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}
