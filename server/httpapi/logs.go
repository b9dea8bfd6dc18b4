package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// logBatch is the body of POST /logs/: a list of log lines.
type logBatch []schema.LogCreate

// Validate checks every line, naming the first bad one by index.
func (b logBatch) Validate() error {
	for i := range b {
		if err := b[i].Validate(); err != nil {
			if v, ok := err.(*schema.ValidationError); ok {
				return schema.Invalid(strconv.Itoa(i)+"."+v.Loc, v.Msg)
			}
			return err
		}
	}
	return nil
}

// createLogs stores the batch, then hands it to the live log stream (when
// publishing is on), as Prefect's create_logs publishes what it inserts.
func (a *API) createLogs(r *http.Request, logs *logBatch) (response, error) {
	stored, err := a.store.CreateLogs(r.Context(), *logs)
	if err != nil {
		return response{}, err
	}
	if a.logs != nil {
		a.logs.Publish(r.Context(), stored)
	}
	return created(nil), nil
}

func (a *API) filterLogs(r *http.Request, q *schema.LogQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	logs, err := a.store.FilterLogs(r.Context(), *q)
	return ok(logs), err
}

// logsDownloadPage is how many log lines one page of a download reads, as
// Prefect's FLOW_RUN_LOGS_DOWNLOAD_PAGE_LIMIT: memory stays bounded however
// long the run's log is.
const logsDownloadPage = 1000

// downloadFlowRunLogs serves GET /flow_runs/{id}/logs/download: the run's
// logs, oldest first, as the CSV Prefect streams (Python's csv module:
// minimal quoting, \r\n line ends; timestamps as str(datetime)). A failure
// after the first bytes aborts the response, so the client sees a cut
// transfer rather than a file that merely looks complete.
func (a *API) downloadFlowRunLogs(w http.ResponseWriter, r *http.Request) {
	id, err := uuidRouteID(r)
	var run schema.FlowRun
	if err == nil {
		run, err = a.store.ReadFlowRun(r.Context(), id)
		if isNotFound(err) {
			err = detail(http.StatusNotFound, "Flow run not found")
		}
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}

	rc := http.NewResponseController(w)
	buf := appendCSVRow(nil, "timestamp", "level", "flow_run_id", "task_run_id", "message")
	q := schema.LogQuery{Logs: &schema.LogFilter{FlowRunID: &schema.IDFilter{Any: []uuid.UUID{id}}}, Sort: "TIMESTAMP_ASC"}
	q.Limit = new(logsDownloadPage)
	for started := false; ; started = true {
		logs, err := a.store.FilterLogs(r.Context(), q)
		if err != nil && !started {
			writeError(w, r, a.log, err)
			return
		}
		if err != nil {
			a.log.Error("logs download cut short", "flow_run_id", id, "error", err)
			panic(http.ErrAbortHandler)
		}
		if !started {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="flow-run-logs.csv"; filename*=UTF-8''`+pyQuote(run.Name+"-logs.csv"))
		}
		for _, l := range logs {
			taskRunID := ""
			if l.TaskRunID != nil {
				taskRunID = l.TaskRunID.String()
			}
			buf = appendCSVRow(buf, pyDatetime(l.Timestamp), strconv.Itoa(l.Level), id.String(), taskRunID, l.Message)
		}
		if _, err := w.Write(buf); err != nil {
			return // the client went away
		}
		_ = rc.Flush()
		buf = buf[:0]
		if len(logs) < logsDownloadPage {
			return
		}
		q.Offset += logsDownloadPage
	}
}

// appendCSVRow appends one row as Python's csv.writer writes it: a field is
// quoted only when it holds a comma, a quote or a line break (encoding/csv
// also quotes a leading space and turns \n into \r\n inside quotes).
func appendCSVRow(buf []byte, fields ...string) []byte {
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		if !strings.ContainsAny(f, ",\"\r\n") {
			buf = append(buf, f...)
			continue
		}
		buf = append(buf, '"')
		buf = append(buf, strings.ReplaceAll(f, `"`, `""`)...)
		buf = append(buf, '"')
	}
	return append(buf, '\r', '\n')
}

// pyDatetime is str() of a UTC datetime in Python: microseconds only when
// there are any.
func pyDatetime(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02 15:04:05-07:00")
	}
	return t.Format("2006-01-02 15:04:05.000000-07:00")
}

// pyQuote is Python's urllib.parse.quote(s, safe=""): every byte but
// letters, digits and _.-~ percent-encoded.
func pyQuote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.-~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
