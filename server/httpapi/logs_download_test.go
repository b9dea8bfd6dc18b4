package httpapi_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// The UI's "Download logs" button on a flow run.
func TestDownloadFlowRunLogs(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "log-flow")
		r := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "name": "héllo wörld/run"})
		requireStatus(t, http.StatusCreated, r)
		runID := r.Object(t)["id"].(string)
		r = s.do(t, http.MethodPost, "/task_runs/", map[string]any{"flow_run_id": runID, "task_key": "k", "dynamic_key": "0"})
		requireStatus(t, http.StatusCreated, r)
		taskRunID := r.Object(t)["id"].(string)

		line := func(msg, at string, extra ...string) map[string]any {
			l := map[string]any{"name": "test", "level": 20, "message": msg, "timestamp": at, "flow_run_id": runID}
			if len(extra) > 0 {
				l["task_run_id"] = extra[0]
			}
			return l
		}
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/logs/", []any{
			line("plain", "2026-01-01T00:00:00Z"),
			line(" lead, comma \"q\"\nline2", "2026-01-01T00:00:01.5Z", taskRunID),
			line("", "2026-01-01T00:00:02.123456+02:00"),
			map[string]any{"name": "test", "level": 20, "message": "another run's", "timestamp": "2026-01-01T00:00:00Z"},
		}))

		r = s.do(t, http.MethodGet, "/flow_runs/"+runID+"/logs/download", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, "text/csv; charset=utf-8", r.Header.Get("Content-Type"))
		require.Equal(t, `attachment; filename="flow-run-logs.csv"; filename*=UTF-8''h%C3%A9llo%20w%C3%B6rld%2Frun-logs.csv`, r.Header.Get("Content-Disposition"))
		// What prefect server start 3.9.1 sent for the same logs, byte for byte.
		require.Equal(t, "timestamp,level,flow_run_id,task_run_id,message\r\n"+
			"2025-12-31 22:00:02.123456+00:00,20,"+runID+",,\r\n"+
			"2026-01-01 00:00:00+00:00,20,"+runID+",,plain\r\n"+
			"2026-01-01 00:00:01.500000+00:00,20,"+runID+","+taskRunID+",\" lead, comma \"\"q\"\"\nline2\"\r\n", string(r.Body))

		requireDetail(t, http.StatusNotFound, "Flow run not found", s.do(t, http.MethodGet, "/flow_runs/"+uuid.NewString()+"/logs/download", nil))
		requireDetail(t, http.StatusNotFound, "Not Found", s.do(t, http.MethodGet, "/flow_runs/nope/logs/download", nil))
	})
}

// A log longer than one page of the download comes whole and in order.
func TestDownloadFlowRunLogsPages(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		runID := s.createFlowRun(t)["id"].(string)
		const n = 2345
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i < n; i += 500 {
			var batch []any
			for j := i; j < min(i+500, n); j++ {
				batch = append(batch, map[string]any{"name": "test", "level": 20, "message": fmt.Sprint(j),
					"timestamp": start.Add(time.Duration(j) * time.Millisecond).Format(time.RFC3339Nano), "flow_run_id": runID})
			}
			requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/logs/", batch))
		}
		r := s.do(t, http.MethodGet, "/flow_runs/"+runID+"/logs/download", nil)
		requireStatus(t, http.StatusOK, r)
		rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, n+1)
		for j, row := range rows[1:] {
			require.Equal(t, fmt.Sprint(j), row[4])
		}
	})
}
