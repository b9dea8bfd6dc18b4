package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// scrape reads /api/metrics into "name{labels}" → value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	res, err := http.Get(base + "/api/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndex(line, " ")
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	return out
}

func call(t *testing.T, method, url string, body any) map[string]any {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	require.Less(t, res.StatusCode, 300, string(raw))
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// TestMetricsMoveWithAWorkload scrapes /api/metrics after a real workload:
// requests by route, state changes, events, the queue's scheduled runs, a
// service's pass, the leader and the database pools all show it.
func TestMetricsMoveWithAWorkload(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		s := settings.Defaults()
		s.MetricsEnabled = true
		s.Services.LateRuns.LoopSeconds = 50 * time.Millisecond
		app := New(s, st, NewLogger(io.Discard, "ERROR"))
		ctx := context.Background()
		require.NoError(t, app.Start(ctx))
		srv := httptest.NewServer(app.Handler)
		t.Cleanup(func() { srv.Close(); app.Stop() })
		api := srv.URL + "/api"

		before := scrape(t, srv.URL)
		require.Equal(t, 1.0, before["prefect_leader"])
		require.Contains(t, before, `prefect_db_connections_in_use{pool="writer"}`)

		flow := call(t, http.MethodPost, api+"/flows/", map[string]any{"name": "metered"})
		for range 3 {
			run := call(t, http.MethodPost, api+"/flow_runs/", map[string]any{"flow_id": flow["id"], "state": map[string]any{"type": "PENDING"}})
			for _, state := range []string{"RUNNING", "COMPLETED"} {
				call(t, http.MethodPost, api+"/flow_runs/"+run["id"].(string)+"/set_state", map[string]any{"state": map[string]any{"type": state}})
			}
		}
		call(t, http.MethodPost, api+"/work_pools/", map[string]any{"name": "metered-pool", "type": "process"})
		dep := call(t, http.MethodPost, api+"/deployments/", map[string]any{"flow_id": flow["id"], "name": "d", "work_pool_name": "metered-pool"})
		for range 2 {
			call(t, http.MethodPost, api+"/deployments/"+dep["id"].(string)+"/create_flow_run", map[string]any{})
		}

		var after map[string]float64
		require.Eventually(t, func() bool {
			after = scrape(t, srv.URL)
			return after[`prefect_service_last_success_timestamp_seconds{service="late-runs"}`] > 0
		}, 10*time.Second, 50*time.Millisecond, "a late-runs pass is measured")
		require.Equal(t, 6.0, after[`prefect_http_requests_total{method="POST",route="/api/flow_runs/{id}/set_state",status="201"}`])
		require.Equal(t, 3.0, after[`prefect_run_state_transitions_total{kind="flow",state_type="COMPLETED"}`])
		require.Equal(t, 3.0, after[`prefect_run_state_transitions_total{kind="flow",state_type="RUNNING"}`])
		require.Greater(t, after[`prefect_http_request_duration_seconds_count{method="POST",route="/api/flow_runs"}`], 2.0)
		require.GreaterOrEqual(t, after["prefect_events_received_total"], 6.0, "the runs' state events")
		require.Equal(t, 2.0, after[`prefect_work_queue_scheduled_runs{work_pool="metered-pool",work_queue="default"}`])
		require.Greater(t, after[`prefect_work_queue_earliest_scheduled_run_timestamp_seconds{work_pool="metered-pool",work_queue="default"}`], 1e9)
		require.Contains(t, after, "prefect_flow_runs_late")
		require.Contains(t, after, "prefect_event_persister_backlog")
		require.Greater(t, after["prefect_event_subscriptions"], 0.0)
		require.Zero(t, after[`prefect_http_requests_total{method="GET",route="unmatched",status="404"}`])

		// An unknown path is counted without its path as a label.
		res, err := http.Get(api + "/no/such/thing")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 1.0, scrape(t, srv.URL)[`prefect_http_requests_total{method="GET",route="unmatched",status="404"}`])

		// Every metric of ours is documented.
		doc, err := os.ReadFile("../docs/metrics.md")
		require.NoError(t, err)
		for key := range after {
			name, _, _ := strings.Cut(key, "{")
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && strings.Contains(string(doc), "`"+base+"`") {
					name = base
				}
			}
			if strings.HasPrefix(name, "prefect_") {
				require.Contains(t, string(doc), "`"+name+"`", "docs/metrics.md does not list %s", name)
			}
		}
	})
}

// TestMetricsOff: with the setting off (the default) there is no route.
func TestMetricsOff(t *testing.T) {
	t.Parallel()
	st := storetest.NewSQLite(t)
	app := New(settings.Defaults(), st, NewLogger(io.Discard, "ERROR"))
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL + "/api/metrics")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode)
}
