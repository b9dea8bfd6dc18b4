package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// The routes here answer the web UI's views of runs: the flow-run scatter,
// counts and lateness. Each is Prefect's own aggregate, computed by the store.

// uiFlowRunHistoryLimit is the default and the maximum of the scatter's page.
const uiFlowRunHistoryLimit = 1000

// uiFlowRunHistory is the UI's scatter of flow runs: when each started (or
// is expected to), for how long it ran and how late it was, at now.
func (a *API) uiFlowRunHistory(r *http.Request, q *schema.UIFlowRunHistoryQuery) (response, error) {
	limit := uiFlowRunHistoryLimit
	if q.Limit != nil {
		limit = *q.Limit
	}
	switch {
	case limit > uiFlowRunHistoryLimit:
		return response{}, invalid([]string{"body", "limit"}, "Input should be less than or equal to 1000", "less_than_equal", nil)
	case limit < 0:
		// Prefect hands a negative limit to the database (all rows on
		// SQLite, an error on PostgreSQL); refusing it keeps the page bounded.
		return response{}, invalid([]string{"body", "limit"}, "Input should be greater than or equal to 0", "greater_than_equal", nil)
	case q.Offset < 0:
		return response{}, invalid([]string{"body", "offset"}, "Input should be greater than or equal to 0", "greater_than_equal", nil)
	}
	sort := q.Sort
	if sort == "" {
		sort = "EXPECTED_START_TIME_DESC"
	}
	runs, err := a.store.FilterFlowRuns(r.Context(), schema.Query{Flows: q.Flows, FlowRuns: q.FlowRuns, TaskRuns: q.TaskRuns,
		Deployments: q.Deployments, WorkPools: q.WorkPools, Sort: sort, Page: schema.Page{Limit: &limit, Offset: q.Offset}})
	if err != nil {
		return response{}, err
	}
	now := a.clock()
	out := make([]schema.SimpleFlowRun, len(runs))
	for i, run := range runs {
		p := schema.SimpleFlowRun{ID: run.ID, StateType: run.StateType, Timestamp: run.StartTime}
		if p.Timestamp == nil {
			p.Timestamp = run.ExpectedStartTime
		}
		p.Duration, p.Lateness = schema.Estimates(run.StateType, run.State, run.TotalRunTime, run.StartTime, run.ExpectedStartTime, now)
		out[i] = p
	}
	return ok(out), nil
}

// countTaskRunsByFlowRun counts each asked flow run's task runs (subflows
// left out), 0 for a run without any or unknown.
func (a *API) countTaskRunsByFlowRun(r *http.Request, b *schema.FlowRunIDs) (response, error) {
	if b.FlowRunIDs == nil {
		return response{}, invalid([]string{"body", "flow_run_ids"}, "Field required", "missing", nil)
	}
	counts, err := a.store.CountTaskRunsByFlowRun(r.Context(), b.FlowRunIDs)
	if err != nil {
		return response{}, err
	}
	return ok(schema.CountsByFlowRun{IDs: b.FlowRunIDs, Counts: counts}), nil
}

// flowRunLateness is the average lateness in seconds of the matching flow
// runs, null when none match.
func (a *API) flowRunLateness(r *http.Request, q *schema.Query) (response, error) {
	avg, err := a.store.FlowRunLateness(r.Context(), *q, a.clock())
	return ok(avg), err
}

// countTaskRunsByState counts the matching task runs for every state type.
func (a *API) countTaskRunsByState(r *http.Request, q *schema.TaskRunCountsQuery) (response, error) {
	counts, err := a.store.CountTaskRunsByState(r.Context(), schema.Query{Flows: q.Flows, FlowRuns: q.FlowRuns,
		TaskRuns: q.TaskRuns, Deployments: q.Deployments})
	return ok(counts), err
}

// dashboardBuckets is how many buckets the dashboard's task-run chart has.
const dashboardBuckets = 20

// dashboardTaskRunCounts is the dashboard's chart of finished task runs:
// from start_time.after_ (to the minute) to the end of the minute of
// start_time.before_ (or of now), 20 buckets of completed and failed runs
// by start time.
func (a *API) dashboardTaskRunCounts(r *http.Request, q *schema.DashboardCountsQuery) (response, error) {
	if q.TaskRuns == nil {
		return response{}, invalid([]string{"body", "task_runs"}, "Field required", "missing", nil)
	}
	window := q.TaskRuns.StartTime
	if window == nil || window.After == nil {
		return response{}, detail(http.StatusUnprocessableEntity, "task_runs.start_time.after_ is required")
	}
	start := window.After.UTC().Truncate(time.Minute)
	end := a.clock()
	if window.Before != nil {
		end = window.Before.UTC()
	}
	end = end.Truncate(time.Minute).Add(time.Minute - time.Microsecond)
	// Prefect divides the window as a timedelta: to the microsecond, half
	// to even.
	us := end.Sub(start).Microseconds()
	width, rem := us/dashboardBuckets, us%dashboardBuckets
	if rem*2 > dashboardBuckets || (rem*2 == dashboardBuckets && width%2 == 1) {
		width++
	}
	out := make([]schema.TaskRunCount, dashboardBuckets)
	if width <= 0 {
		// before_ precedes after_: no run can match.
		return ok(out), nil
	}
	// Only finished runs count, whatever state the filter asked for.
	taskRuns := *q.TaskRuns
	taskRuns.State = &schema.StateFilter{Type: &schema.StateTypeFilter{Any: []schema.StateType{
		schema.StateCompleted, schema.StateCancelled, schema.StateFailed, schema.StateCrashed}}}
	buckets, err := a.store.CountTaskRunsByBucket(r.Context(), schema.Query{Flows: q.Flows, FlowRuns: q.FlowRuns,
		TaskRuns: &taskRuns, Deployments: q.Deployments, WorkPools: q.WorkPools, WorkPoolQueues: q.WorkQueues},
		start, float64(width)/1e6)
	if err != nil {
		return response{}, err
	}
	for _, b := range buckets {
		// A run started after the window (none is before it) has no bucket;
		// Prefect fails with a 500 on it.
		if b.Index >= 0 && b.Index < dashboardBuckets {
			out[b.Index] = schema.TaskRunCount{Completed: b.Completed, Failed: b.Failed}
		}
	}
	return ok(out), nil
}

// readUITaskRun is a task run with its flow run's name.
func (a *API) readUITaskRun(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	run, err := a.store.ReadTaskRun(r.Context(), id)
	if err != nil {
		return response{}, orNotFound(err, "Task")
	}
	out := schema.UITaskRun{TaskRun: run}
	if run.FlowRunID != nil {
		fr, err := a.store.ReadFlowRun(r.Context(), *run.FlowRunID)
		switch {
		case err == nil:
			out.FlowRunName = &fr.Name
		case !isNotFound(err):
			return response{}, err
		}
	}
	return ok(out), nil
}

// maxHistoryIntervals caps a run history as Prefect does: a longer range is
// cut off after that many intervals.
const maxHistoryIntervals = 500

// flowRunHistory and taskRunHistory are the state charts of runs over time.
func (a *API) flowRunHistory(r *http.Request, q *schema.RunHistoryQuery) (response, error) {
	return a.runHistory(r, store.FlowRunKind, q)
}

func (a *API) taskRunHistory(r *http.Request, q *schema.RunHistoryQuery) (response, error) {
	return a.runHistory(r, store.TaskRunKind, q)
}

// runHistory divides [history_start, history_end) into intervals of
// history_interval_seconds (the last one reaching past the end) and counts
// the runs expected to start in each, by state.
func (a *API) runHistory(r *http.Request, kind store.RunKind, q *schema.RunHistoryQuery) (response, error) {
	for _, f := range []struct {
		name string
		set  bool
	}{{"history_start", q.HistoryStart != nil}, {"history_end", q.HistoryEnd != nil}, {"history_interval_seconds", q.HistoryIntervalSeconds != nil}} {
		if !f.set {
			return response{}, invalid([]string{"body", f.name}, "Field required", "missing", nil)
		}
	}
	width := *q.HistoryIntervalSeconds
	if !(width >= 1) { // NaN too
		return response{}, detail(http.StatusUnprocessableEntity, "History interval must not be less than 1 second.")
	}
	start, end := q.HistoryStart.UTC(), q.HistoryEnd.UTC()
	elapsed := end.Sub(start).Seconds()
	if elapsed <= 0 {
		return ok([]schema.HistoryInterval{}), nil
	}
	n := int(min(math.Ceil(elapsed/width), maxHistoryIntervals))
	query := schema.Query{Flows: q.Flows, FlowRuns: q.FlowRuns, TaskRuns: q.TaskRuns, Deployments: q.Deployments}
	if kind == store.FlowRunKind {
		query.WorkPools, query.WorkPoolQueues = q.WorkPools, q.WorkQueues
	}
	buckets, err := a.store.RunHistory(r.Context(), kind, query, start, width, n, a.clock())
	if err != nil {
		return response{}, err
	}
	step := func(i int) time.Time { return start.Add(time.Duration(float64(i) * width * float64(time.Second))) }
	out := make([]schema.HistoryInterval, n)
	for i := range out {
		out[i] = schema.HistoryInterval{IntervalStart: step(i), IntervalEnd: step(i + 1), States: []schema.HistoryState{}}
	}
	for _, b := range buckets {
		// Rounding at an interval's edge can put a run one bucket out.
		i := min(max(b.Index, 0), n-1)
		out[i].States = append(out[i].States, b.HistoryState)
	}
	return ok(out), nil
}

// observedStatesLimit is the default and the maximum of /observed-states.
const observedStatesLimit = 200

// readObservedStates is GET /observed-states: the state types and exact
// names runs have been in, for the UI's state filters. Its query parameters
// are checked as FastAPI checks them.
func (a *API) readObservedStates(r *http.Request, _ *none) (response, error) {
	params := r.URL.Query()
	q := schema.ObservedStatesQuery{Sort: schema.ObservedLastSeenDesc, Limit: observedStatesLimit}
	if vs := params["query"]; len(vs) > 0 {
		v := vs[len(vs)-1]
		if utf8.RuneCountInString(v) > 100 {
			return response{}, invalid([]string{"query", "query"}, "String should have at most 100 characters", "string_too_long", nil)
		}
		q.Prefix = strings.TrimSpace(v)
	}
	if vs := params["order_by"]; len(vs) > 0 {
		switch s := schema.ObservedStateSort(vs[len(vs)-1]); s {
		case schema.ObservedNameAsc, schema.ObservedLastSeenDesc:
			q.Sort = s
		default:
			return response{}, invalid([]string{"query", "order_by"}, "Input should be 'NAME_ASC' or 'LAST_SEEN_DESC'", "enum", nil)
		}
	}
	if vs := params["limit"]; len(vs) > 0 {
		n, err := strconv.Atoi(strings.TrimSpace(vs[len(vs)-1]))
		switch {
		case err != nil:
			return response{}, invalid([]string{"query", "limit"}, "Input should be a valid integer, unable to parse string as an integer", "int_parsing", nil)
		case n < 1:
			return response{}, invalid([]string{"query", "limit"}, "Input should be greater than or equal to 1", "greater_than_equal", nil)
		case n > observedStatesLimit:
			return response{}, invalid([]string{"query", "limit"}, "Input should be less than or equal to 200", "less_than_equal", nil)
		}
		q.Limit = n
	}
	states, err := a.store.ObservedStates(r.Context(), q)
	return ok(states), err
}
