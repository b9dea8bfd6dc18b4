package httpapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// readFlowRunGraph is GET /flow_runs/{id}/graph-v2: the graph the UI's run
// view draws, with only the nodes that end after since (all by default).
func (a *API) readFlowRunGraph(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	var since time.Time
	if raw := r.URL.Query().Get("since"); raw != "" {
		t, perr := schema.ParseDateTime(raw, time.UTC)
		if perr != nil {
			return response{}, invalid([]string{"query", "since"}, perr.Msg, perr.Type, nil)
		}
		since = t
	}
	src, err := a.store.FlowRunGraph(r.Context(), id, a.settings.FlowRunGraph.MaxArtifacts)
	if err != nil {
		return response{}, orNotFound(err, "Flow run")
	}
	states, err := a.store.ReadFlowRunStates(r.Context(), id)
	if err != nil {
		return response{}, err
	}
	limit := a.settings.FlowRunGraph.MaxNodes
	g, fits := drawGraph(src, states, since, limit)
	if !fits {
		return response{}, detail(http.StatusBadRequest, fmt.Sprintf("The graph of flow run %s has more than %d nodes.", id, limit))
	}
	return ok(g), nil
}

// graphInput is an entry of a task run's task_inputs: a reference to the run
// whose result (or, under __parents__, whose body) the task ran in.
type graphInput struct {
	ID *uuid.UUID `json:"id"`
}

// encapsulatingKey is the task_inputs key of the runs a task ran inside.
const encapsulatingKey = "__parents__"

// drawGraph draws a flow run's graph as Prefect does: a node per task run
// with a start (or expected start) time, the subflow run standing in for
// the task run that is its parent; parent and child edges from the
// task_inputs that name another node, encapsulating edges from __parents__,
// each ordered by the other node's start; nodes ending before since left
// out, the rest ordered by start and end; false for more than maxNodes.
// As in Prefect, an input naming a subflow's parent task run draws no edge
// (the node has the subflow's id), and artifacts hang on task-run nodes.
func drawGraph(src store.GraphSource, states []schema.State, since time.Time, maxNodes int) (schema.Graph, bool) {
	type ref struct {
		id            uuid.UUID
		encapsulating bool
	}
	nodes := map[uuid.UUID]*schema.GraphNode{}
	refs := map[uuid.UUID][]ref{}
	var order []uuid.UUID
	for _, t := range src.Tasks {
		n, ok := graphNode(t)
		if !ok {
			continue
		}
		if _, dup := nodes[n.ID]; dup {
			continue
		}
		nodes[n.ID] = &n
		order = append(order, n.ID)
		var inputs map[string][]graphInput
		_ = json.Unmarshal(t.Inputs, &inputs) // not an object: no edges
		for key, list := range inputs {
			for _, in := range list {
				if in.ID != nil {
					refs[n.ID] = append(refs[n.ID], ref{*in.ID, key == encapsulatingKey})
				}
			}
		}
	}

	byStart := func(ids []uuid.UUID) []schema.GraphEdge {
		slices.SortStableFunc(ids, func(a, b uuid.UUID) int { return nodes[a].StartTime.Compare(nodes[b].StartTime) })
		ids = slices.Compact(ids)
		edges := make([]schema.GraphEdge, len(ids))
		for i, id := range ids {
			edges[i] = schema.GraphEdge{ID: id}
		}
		return edges
	}
	parents, children, encapsulating := map[uuid.UUID][]uuid.UUID{}, map[uuid.UUID][]uuid.UUID{}, map[uuid.UUID][]uuid.UUID{}
	for _, child := range order {
		for _, r := range refs[child] {
			if _, ok := nodes[r.id]; !ok {
				continue
			}
			if r.encapsulating {
				encapsulating[child] = append(encapsulating[child], r.id)
			} else {
				parents[child] = append(parents[child], r.id)
				children[r.id] = append(children[r.id], child)
			}
		}
	}

	artifacts := map[uuid.UUID][]schema.GraphArtifact{}
	g := schema.Graph{StartTime: src.Start, EndTime: src.End, RootNodeIDs: []uuid.UUID{}, Nodes: []schema.GraphNodePair{},
		Artifacts: []schema.GraphArtifact{}, States: make([]schema.GraphState, len(states))}
	for _, a := range src.Artifacts {
		if a.TaskRunID == nil {
			g.Artifacts = append(g.Artifacts, a.GraphArtifact)
		} else {
			artifacts[*a.TaskRunID] = append(artifacts[*a.TaskRunID], a.GraphArtifact)
		}
	}
	for i, s := range states {
		g.States[i] = schema.GraphState{ID: s.ID, Timestamp: s.Timestamp, Type: s.Type, Name: s.Name}
	}

	var kept []*schema.GraphNode
	for _, id := range order {
		n := nodes[id]
		if n.EndTime != nil && n.EndTime.Before(since) {
			continue
		}
		n.Parents, n.Children, n.Encapsulating = byStart(parents[id]), byStart(children[id]), byStart(encapsulating[id])
		n.Artifacts = artifacts[id]
		if n.Artifacts == nil {
			n.Artifacts = []schema.GraphArtifact{}
		}
		kept = append(kept, n)
	}
	if len(kept) > maxNodes {
		return schema.Graph{}, false
	}
	slices.SortStableFunc(kept, func(a, b *schema.GraphNode) int {
		if c := a.StartTime.Compare(b.StartTime); c != 0 {
			return c
		}
		switch { // no end yet sorts last, as NULL does
		case a.EndTime == nil && b.EndTime == nil:
			return 0
		case a.EndTime == nil:
			return 1
		case b.EndTime == nil:
			return -1
		}
		return a.EndTime.Compare(*b.EndTime)
	})
	for _, n := range kept {
		g.Nodes = append(g.Nodes, schema.GraphNodePair{ID: n.ID, Node: *n})
		if len(n.Parents) == 0 {
			g.RootNodeIDs = append(g.RootNodeIDs, n.ID)
		}
	}
	return g, true
}

// graphNode is the node a task run is drawn as: its subflow run's when it
// has one, falling back on the task run's fields; false without a start
// time or a state.
func graphNode(t store.GraphTask) (schema.GraphNode, bool) {
	n := schema.GraphNode{Kind: "task-run", ID: t.ID, Label: t.Label}
	state := t.StateType
	start := cmp.Or(t.Start, t.ExpectedStart)
	end := t.End
	if end == nil && t.StateType != nil && *t.StateType == schema.StateCompleted {
		end = t.ExpectedStart // Prefect's fallback for a completed task without an end time
	}
	if s := t.Subflow; s != nil {
		n.Kind, n.ID = "flow-run", s.ID
		n.Label = cmp.Or(s.Label, t.Label)
		state = cmp.Or(s.StateType, state)
		start = cmp.Or(s.Start, s.ExpectedStart, start)
		end = cmp.Or(s.End, t.End, end)
	}
	if start == nil || state == nil {
		return n, false
	}
	n.StateType, n.StartTime, n.EndTime = *state, *start, end
	return n, true
}

// readTaskRunDependencies is GET /flow_runs/{id}/graph, the older graph:
// every task run of the run with the inputs it names, each once.
func (a *API) readTaskRunDependencies(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	if _, err := a.store.ReadFlowRun(r.Context(), id); err != nil {
		return response{}, orNotFound(err, "Flow run")
	}
	runs, err := a.store.FilterTaskRuns(r.Context(), schema.Query{TaskRuns: &schema.TaskRunFilter{FlowRunID: &schema.IDFilter{Any: []uuid.UUID{id}}}})
	if err != nil {
		return response{}, err
	}
	now := a.clock()
	out := make([]schema.DependencyResult, len(runs))
	for i, tr := range runs {
		d := schema.DependencyResult{ID: tr.ID, Name: tr.Name, UpstreamDependencies: upstream(tr.TaskInputs), State: tr.State,
			ExpectedStartTime: tr.ExpectedStartTime, StartTime: tr.StartTime, EndTime: tr.EndTime,
			TotalRunTime: tr.TotalRunTime}
		d.EstimatedRunTime, _ = schema.Estimates(tr.StateType, tr.State, tr.TotalRunTime, tr.StartTime, tr.ExpectedStartTime, now)
		if tr.State != nil {
			d.UntrackableResult = tr.State.StateDetails.UntrackableResult
		}
		out[i] = d
	}
	return ok(out), nil
}

// upstream is every input of task_inputs once, in the order first named.
func upstream(taskInputs json.RawMessage) []json.RawMessage {
	var inputs map[string][]json.RawMessage
	_ = json.Unmarshal(taskInputs, &inputs)
	keys := make([]string, 0, len(inputs))
	for k := range inputs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := []json.RawMessage{}
	seen := map[string]bool{}
	for _, k := range keys {
		for _, in := range inputs[k] {
			var canonical any
			if json.Unmarshal(in, &canonical) != nil {
				continue
			}
			c, _ := json.Marshal(canonical)
			if !seen[string(c)] {
				seen[string(c)] = true
				out = append(out, c)
			}
		}
	}
	return out
}
