package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"prefectgo.dev/prefectgo/server/httpapi"
)

// errRequestTimeout is the cause of a request's context once
// PREFECT_SERVER_API_REQUEST_TIMEOUT has passed.
var errRequestTimeout = errors.New("the request ran past PREFECT_SERVER_API_REQUEST_TIMEOUT")

// requestDeadline bounds each request to timeout, counted from the end of its
// headers, so that no client, slow or idle, holds a connection for longer:
//
//   - the body must have arrived by then (a read deadline on the connection),
//     else the answer is 408 and the connection is closed;
//   - the handler's context ends then, so its store calls are cancelled, and
//     an error it answers after that becomes a 503 saying so (a success is
//     kept: the work was done, and a retry could repeat it);
//   - the response has as long again to be written (a write deadline), so a
//     client that stops reading cannot hold the connection either.
//
// These are per-request deadlines rather than http.Server's ReadTimeout and
// WriteTimeout, which would also cut WebSockets. A WebSocket handshake (a GET
// without a body that asks to upgrade) gets no handler deadline, since its
// handler lives as long as the socket; and whatever request hijacks the
// connection leaves every deadline behind.
func requestDeadline(next http.Handler, timeout time.Duration, log *slog.Logger) http.Handler {
	if timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		start := time.Now()
		_ = rc.SetWriteDeadline(start.Add(2 * timeout))
		dw := &deadlineWriter{ResponseWriter: w, ctx: r.Context(), timeout: timeout, log: log, method: r.Method, path: r.URL.Path}
		// A WebSocket handshake is a GET without a body: exempting it from the
		// handler deadline leaves no body to dribble.
		if !httpapi.IsWebSocketUpgrade(r) || (r.Body != nil && r.Body != http.NoBody) {
			ctx, cancel := context.WithDeadlineCause(r.Context(), start.Add(timeout), errRequestTimeout)
			defer cancel()
			dw.ctx = ctx
			r = r.WithContext(ctx)
			if r.Body != nil && r.Body != http.NoBody {
				_ = rc.SetReadDeadline(start.Add(timeout))
				dw.body = &deadlineBody{ReadCloser: r.Body}
				r.Body = dw.body
			}
		}
		next.ServeHTTP(dw, r)
	})
}

// deadlineBody notes whether the body was read to its end, or failed on
// the read deadline.
type deadlineBody struct {
	io.ReadCloser
	complete, late atomic.Bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.complete.Store(true)
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.late.Store(true)
	}
	return n, err
}

// deadlineWriter replaces an error answered after the deadline with the
// timeout's own answer, and clears the connection's deadlines on hijack.
type deadlineWriter struct {
	http.ResponseWriter
	ctx       context.Context
	timeout   time.Duration
	log       *slog.Logger
	method    string
	path      string
	body      *deadlineBody // nil without a body
	committed bool          // a final status has been written
	discard   bool          // the handler's output is replaced
}

func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

func (d *deadlineWriter) WriteHeader(code int) {
	if !d.committed && code >= 400 {
		if status, body := d.late(); status != 0 {
			d.committed, d.discard = true, true
			d.log.Warn("request timed out", "method", d.method, "path", d.path, "status", status,
				"request_timeout", d.timeout.String())
			// Drop what the handler said about its own answer; keep the CORS
			// headers (httpapi.CORS, which runs inside this wrapper), so a
			// browser on another origin can read this answer too.
			h := d.Header()
			for k := range h {
				if k != "Vary" && !strings.HasPrefix(k, "Access-Control-") {
					delete(h, k)
				}
			}
			h.Set("Content-Type", "application/json")
			if status == http.StatusRequestTimeout {
				// The rest of the body is still on its way: the connection
				// cannot carry another request.
				h.Set("Connection", "close")
			}
			d.ResponseWriter.WriteHeader(status)
			_ = json.NewEncoder(d.ResponseWriter).Encode(body)
			return
		}
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		d.committed = true
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if !d.committed {
		d.WriteHeader(http.StatusOK)
	}
	if d.discard {
		return len(p), nil
	}
	return d.ResponseWriter.Write(p)
}

// Hijack hands the connection over (to a WebSocket) without the deadlines
// set for HTTP.
func (d *deadlineWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(d.ResponseWriter).Hijack()
	if err == nil {
		err = c.SetDeadline(time.Time{})
	}
	return c, brw, err
}

// late says what to answer instead of an error once the deadline has passed:
// 408 while the body has not all arrived, else 503; status 0 means the
// deadline has not passed.
func (d *deadlineWriter) late() (int, any) {
	bodyLate := d.body != nil && d.body.late.Load()
	if !bodyLate && context.Cause(d.ctx) != errRequestTimeout {
		return 0, nil
	}
	limit := "PREFECT_SERVER_API_REQUEST_TIMEOUT (" + strconv.FormatFloat(d.timeout.Seconds(), 'f', -1, 64) + "s)"
	if bodyLate || (d.body != nil && !d.body.complete.Load()) {
		return http.StatusRequestTimeout, map[string]string{
			"detail": "The request body was not received within " + limit + ".",
		}
	}
	return http.StatusServiceUnavailable, map[string]string{
		"exception_message": "Service Unavailable",
		"detail":            "The request did not complete within " + limit + " and was cancelled.",
	}
}
