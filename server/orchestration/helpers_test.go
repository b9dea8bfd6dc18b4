package orchestration

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

var (
	t0         = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	flowRunID  = uuid.MustParse("0190a000-0000-7000-8000-000000000001")
	taskRunID  = uuid.MustParse("0190a000-0000-7000-8000-000000000002")
	parentTask = uuid.MustParse("0190a000-0000-7000-8000-000000000003")
	deployment = uuid.MustParse("0190a000-0000-7000-8000-000000000004")
)

// persisted is result-record metadata, which Prefect treats as a persisted
// result.
const persisted = `{"storage_key":"/results/abc","serializer":{"type":"pickle"}}`

func at(d time.Duration) time.Time { return t0.Add(d) }

type stateOpt func(*schema.State)

func named(n string) stateOpt       { return func(s *schema.State) { s.Name = n } }
func stamped(ts time.Time) stateOpt { return func(s *schema.State) { s.Timestamp = ts } }
func scheduledAt(ts time.Time) stateOpt {
	return func(s *schema.State) { s.StateDetails.ScheduledTime = &ts }
}
func withMessage(m string) stateOpt { return func(s *schema.State) { s.Message = &m } }
func withData(js string) stateOpt {
	return func(s *schema.State) { raw := json.RawMessage(js); s.Data = &raw }
}
func withDetails(f func(*schema.StateDetails)) stateOpt {
	return func(s *schema.State) { f(&s.StateDetails) }
}

// mk is a proposed state, stamped t0 like the server stamps a proposal.
func mk(typ schema.StateType, opts ...stateOpt) schema.State {
	s := schema.State{ID: uuid.New(), Type: typ, Name: typ.DefaultName(), Timestamp: t0}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// was is a run's current state, a minute old unless stamped otherwise.
func was(typ schema.StateType, opts ...stateOpt) *schema.State {
	s := mk(typ, append([]stateOpt{stamped(at(-time.Minute))}, opts...)...)
	return &s
}

func newFlowRun(state *schema.State) schema.FlowRun {
	r := schema.FlowRun{ID: flowRunID, Name: "flow-run", EmpiricalPolicy: schema.FlowRunPolicy{PauseKeys: []string{}}}
	setRunState(&r.StateType, &r.StateName, &r.StateID, &r.State, state)
	return r
}

func newTaskRun(state *schema.State) schema.TaskRun {
	fr := flowRunID
	r := schema.TaskRun{ID: taskRunID, Name: "task-run", FlowRunID: &fr,
		EmpiricalPolicy: schema.TaskRunPolicy{RetryDelay: json.RawMessage("null")}}
	setRunState(&r.StateType, &r.StateName, &r.StateID, &r.State, state)
	return r
}

// runningFlow is a parent flow run in a RUNNING state.
func runningFlow(runCount int) *schema.FlowRun {
	fr := newFlowRun(was(schema.StateRunning))
	fr.RunCount = runCount
	return &fr
}

func setRunState(typ **schema.StateType, name **string, id **uuid.UUID, state **schema.State, s *schema.State) {
	if s == nil {
		return
	}
	*typ, *name, *id, *state = ptr(s.Type), ptr(s.Name), ptr(s.ID), s
}

var detailsType = map[schema.OrchestrationStatus]string{
	schema.StatusAccept: "accept_details",
	schema.StatusReject: "reject_details",
	schema.StatusWait:   "wait_details",
	schema.StatusAbort:  "abort_details",
}

// requireVerdict checks a result's status, reason and written state (write
// "" means nothing written; wname "" skips the name).
func requireVerdict(t *testing.T, r Result, status schema.OrchestrationStatus, reason string, write schema.StateType, wname string) {
	t.Helper()
	require.Equal(t, status, r.Status, "details: %+v", r.Details)
	require.Equal(t, detailsType[status], r.Details.Type)
	if status == schema.StatusAccept {
		require.Nil(t, r.Details.Reason)
	} else {
		require.NotNil(t, r.Details.Reason)
		require.Equal(t, reason, *r.Details.Reason)
	}
	if status != schema.StatusWait {
		require.Nil(t, r.Details.DelaySeconds)
	}
	if write == "" {
		require.Nil(t, r.Write)
		return
	}
	require.NotNil(t, r.Write)
	require.Equal(t, write, r.Write.Type)
	if wname != "" {
		require.Equal(t, wname, r.Write.Name)
	}
}

type flowCase struct {
	name     string
	initial  *schema.State
	proposed schema.State
	force    bool
	setup    func(*schema.FlowRun)
	status   schema.OrchestrationStatus
	reason   string
	write    schema.StateType
	wname    string
	check    func(t *testing.T, in schema.FlowRun, res FlowRunResult)
}

func runFlowCases(t *testing.T, cases []flowCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := newFlowRun(tc.initial)
			if tc.setup != nil {
				tc.setup(&run)
			}
			res := FlowRun(FlowRunContext{Run: run, Proposed: tc.proposed, Force: tc.force, Now: t0})
			requireVerdict(t, res.Result, tc.status, tc.reason, tc.write, tc.wname)
			if res.Write == nil {
				require.Equal(t, run.State, res.Run.State, "the run keeps its state when nothing is written")
			}
			if tc.check != nil {
				tc.check(t, run, res)
			}
		})
	}
}

type taskCase struct {
	name     string
	initial  *schema.State
	proposed schema.State
	force    bool
	flowRun  *schema.FlowRun // the parent; defaults to a running flow on its first attempt
	noFlow   bool            // a task run without a parent flow run
	cached   *schema.State
	maxKey   int
	setup    func(*schema.TaskRun)
	status   schema.OrchestrationStatus
	reason   string
	write    schema.StateType
	wname    string
	check    func(t *testing.T, in schema.TaskRun, res TaskRunResult)
}

func runTaskCases(t *testing.T, cases []taskCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := newTaskRun(tc.initial)
			fr := tc.flowRun
			if fr == nil {
				fr = runningFlow(1)
			}
			if tc.noFlow {
				run.FlowRunID, fr = nil, nil
			}
			if tc.setup != nil {
				tc.setup(&run)
			}
			res := TaskRun(TaskRunContext{Run: run, Proposed: tc.proposed, Force: tc.force, Now: t0,
				FlowRun: fr, CachedState: tc.cached, MaxCacheKeyLength: tc.maxKey})
			requireVerdict(t, res.Result, tc.status, tc.reason, tc.write, tc.wname)
			if tc.check != nil {
				tc.check(t, run, res)
			}
		})
	}
}

// typesExcept lists every state type but those given.
func typesExcept(skip ...schema.StateType) []schema.StateType {
	var out []schema.StateType
outer:
	for _, t := range schema.StateTypes {
		for _, s := range skip {
			if t == s {
				continue outer
			}
		}
		out = append(out, t)
	}
	return out
}

var terminalTypes = []schema.StateType{schema.StateCompleted, schema.StateFailed, schema.StateCancelled, schema.StateCrashed}
