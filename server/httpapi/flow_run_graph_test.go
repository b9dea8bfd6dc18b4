package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestFlowRunGraph draws a run with a data dependency, a task that ran inside
// another, a subflow and artifacts: nodes, edges, roots, artifacts (results
// left out), states, since, the node cap, and the 404.
func TestFlowRunGraph(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, func(st *settings.Settings) { st.FlowRunGraph.MaxNodes = 4 })
		flowID := s.createFlow(t, "graphed")
		r := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "name": "outer"})
		requireStatus(t, http.StatusCreated, r)
		runID := r.Object(t)["id"].(string)
		setRun := func(id string, states ...string) {
			for _, st := range states {
				requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{"state": map[string]any{"type": st}, "force": true}))
			}
		}
		setRun(runID, "RUNNING")
		task := func(key string, inputs map[string]any, states ...string) string {
			r := s.do(t, http.MethodPost, "/task_runs/", map[string]any{"flow_run_id": runID, "task_key": key, "dynamic_key": "0",
				"name": key + "-0", "task_inputs": inputs})
			requireStatus(t, http.StatusCreated, r)
			id := r.Object(t)["id"].(string)
			for _, st := range states {
				requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/task_runs/"+id+"/set_state", map[string]any{"state": map[string]any{"type": st}, "force": true}))
			}
			return id
		}
		ref := func(id string) []any { return []any{map[string]any{"input_type": "task_run", "id": id}} }
		extract := task("extract", map[string]any{}, "RUNNING", "COMPLETED")
		load := task("load", map[string]any{"rows": ref(extract), "n": []any{map[string]any{"input_type": "parameter", "name": "n"}}}, "RUNNING")
		inner := task("inner", map[string]any{"__parents__": ref(extract)}, "RUNNING", "COMPLETED")
		parent := task("sub", map[string]any{}, "RUNNING")
		r = s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "name": "nested", "parent_task_run_id": parent})
		requireStatus(t, http.StatusCreated, r)
		subID := r.Object(t)["id"].(string)
		setRun(subID, "RUNNING")
		artifact := func(typ string, taskRun any) string {
			r := s.do(t, http.MethodPost, "/artifacts/", map[string]any{"type": typ, "data": 42, "flow_run_id": runID, "task_run_id": taskRun})
			requireStatus(t, http.StatusCreated, r)
			return r.Object(t)["id"].(string)
		}
		onTask := artifact("progress", extract)
		onRun := artifact("markdown", nil)
		artifact("result", extract)

		r = s.do(t, http.MethodGet, "/flow_runs/"+runID+"/graph-v2", nil)
		requireStatus(t, http.StatusOK, r)
		g := r.Object(t)
		nodes := map[string]map[string]any{}
		for _, pair := range g["nodes"].([]any) {
			p := pair.([]any)
			nodes[p[0].(string)] = p[1].(map[string]any)
		}
		require.Len(t, nodes, 4)
		edges := func(id, key string) []string {
			var out []string
			for _, e := range nodes[id][key].([]any) {
				out = append(out, e.(map[string]any)["id"].(string))
			}
			return out
		}
		require.Equal(t, []string{extract}, edges(load, "parents"))
		require.Equal(t, []string{load}, edges(extract, "children"))
		require.Equal(t, []string{extract}, edges(inner, "encapsulating"))
		require.Empty(t, edges(inner, "parents"))
		require.ElementsMatch(t, []any{extract, inner, subID}, g["root_node_ids"])
		require.Equal(t, "flow-run", nodes[subID]["kind"])
		require.Equal(t, "graphed / nested", nodes[subID]["label"])
		require.Equal(t, "RUNNING", nodes[subID]["state_type"])
		require.Equal(t, "task-run", nodes[extract]["kind"])
		require.Equal(t, "extract-0", nodes[extract]["label"])
		require.Nil(t, nodes[load]["end_time"])
		require.NotNil(t, nodes[extract]["end_time"])
		taskArtifacts := nodes[extract]["artifacts"].([]any)
		require.Len(t, taskArtifacts, 1)
		require.Equal(t, onTask, taskArtifacts[0].(map[string]any)["id"])
		require.EqualValues(t, 42, taskArtifacts[0].(map[string]any)["data"])
		require.Len(t, g["artifacts"], 1)
		require.Equal(t, onRun, g["artifacts"].([]any)[0].(map[string]any)["id"])
		require.Nil(t, g["artifacts"].([]any)[0].(map[string]any)["data"]) // only progress artifacts carry data
		require.Len(t, g["states"], 2)                                     // Pending, Running
		require.Nil(t, g["end_time"])

		// since: the finished nodes drop out, the running ones stay.
		later := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
		r = s.do(t, http.MethodGet, "/flow_runs/"+runID+"/graph-v2?since="+later, nil)
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.Object(t)["nodes"], 2)

		// The older graph: every task run, with its inputs once each.
		r = s.do(t, http.MethodGet, "/flow_runs/"+runID+"/graph", nil)
		requireStatus(t, http.StatusOK, r)
		deps := map[string]map[string]any{}
		for _, d := range r.List(t) {
			deps[d.(map[string]any)["id"].(string)] = d.(map[string]any)
		}
		require.Len(t, deps, 4)
		require.ElementsMatch(t, []any{map[string]any{"input_type": "task_run", "id": extract},
			map[string]any{"input_type": "parameter", "name": "n"}}, deps[load]["upstream_dependencies"])
		require.Equal(t, []any{}, deps[extract]["upstream_dependencies"])
		require.Equal(t, "RUNNING", deps[load]["state"].(map[string]any)["type"])
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/flow_runs/"+uuid.NewString()+"/graph", nil))

		// One node past the cap is refused; unknown runs and bad input too.
		task("fifth", map[string]any{}, "RUNNING")
		r = s.do(t, http.MethodGet, "/flow_runs/"+runID+"/graph-v2", nil)
		requireStatus(t, http.StatusBadRequest, r)
		require.Contains(t, r.Object(t)["detail"], "has more than 4 nodes")
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/flow_runs/"+uuid.NewString()+"/graph-v2", nil))
		requireValidationError(t, s.do(t, http.MethodGet, "/flow_runs/"+runID+"/graph-v2?since=yesterday", nil), "query", "since")
	})
}
