// Package load drives a running server with the workloads the comparison
// measures (the flow-run lifecycle as the client does it, event and log
// ingestion, filtered reads, and the real prefect client) and records each
// request's latency.
package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Client is a keep-alive HTTP client for one server's API, as the prefect
// client's httpx pool is.
type Client struct {
	API  string // http://127.0.0.1:<port>/api
	HTTP *http.Client
}

// NewClient returns a client whose pool holds conns idle connections.
func NewClient(api string, conns int) *Client {
	// Idle connections are dropped before uvicorn's 5 s keep-alive timeout
	// would, so a POST is never sent on a connection the server is closing.
	tr := &http.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, IdleConnTimeout: 4 * time.Second}
	return &Client{API: api, HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// Close drops the idle connections.
func (c *Client) Close() { c.HTTP.CloseIdleConnections() }

// HTTPError is a response with an unexpected status.
type HTTPError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

// Do sends body as JSON and decodes a 2xx answer into out (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.API+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		if len(raw) > 300 {
			raw = raw[:300]
		}
		return &HTTPError{Method: method, Path: path, Status: resp.StatusCode, Body: string(raw)}
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// DoRetry is Do for untimed setup and seeding: it retries a 503 or a broken
// connection up to seven times with a growing pause, as the prefect client
// would (it waits 2 s, 4 s, ...; shorter here since nothing is timed).
func (c *Client) DoRetry(ctx context.Context, method, path string, body, out any) error {
	var err error
	for attempt := range 8 {
		if err = c.Do(ctx, method, path, body, out); err == nil {
			return nil
		}
		var he *HTTPError
		if errors.As(err, &he) && he.Status != http.StatusServiceUnavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
		}
	}
	return err
}

// Recorder collects what one workload cell did: operations completed,
// request latencies, and errors (with the first few kept for the report).
type Recorder struct {
	mu        sync.Mutex
	Ops       int64 // workload units (lifecycles, events, logs, reads)
	Requests  int64
	Errors    int64
	latencies []time.Duration
	Samples   []string // first errors, for the report
}

// Request records one request's latency and outcome.
func (r *Recorder) Request(d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Requests++
	r.latencies = append(r.latencies, d)
	if err != nil {
		r.errorLocked(err)
	}
}

// Error records a failure that was not a timed request.
func (r *Recorder) Error(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errorLocked(err)
}

func (r *Recorder) errorLocked(err error) {
	r.Errors++
	if len(r.Samples) < 3 {
		r.Samples = append(r.Samples, err.Error())
	}
}

// Done records n completed workload units.
func (r *Recorder) Done(n int64) {
	r.mu.Lock()
	r.Ops += n
	r.mu.Unlock()
}

// Percentiles returns the p50, p95 and p99 request latencies.
func (r *Recorder) Percentiles() (p50, p95, p99 time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.latencies) == 0 {
		return 0, 0, 0
	}
	l := append([]time.Duration(nil), r.latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	at := func(q float64) time.Duration { return l[min(len(l)-1, int(q*float64(len(l))))] }
	return at(0.50), at(0.95), at(0.99)
}

// timed runs one request and records it.
func timed(rec *Recorder, f func() error) error {
	start := time.Now()
	err := f()
	rec.Request(time.Since(start), err)
	return err
}
