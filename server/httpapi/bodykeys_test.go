package httpapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"prefectgo.dev/prefectgo/server/schema"
)

// prefectBody is one route's entry of what gen_prefect_bodies.py prints:
// the keys of Prefect's own request models.
type prefectBody struct {
	Embedded bool        `json:"embedded"`
	Body     *prefectKey `json:"body"`
}

type prefectKey struct {
	Forbid bool                   `json:"x"`
	Keys   map[string]*prefectKey `json:"p"`
	Items  *prefectKey            `json:"i"`
	Ref    string                 `json:"ref"`
}

// keyExemptions are objects Prefect closes that the Go type leaves to its
// own validation, which names the key itself (loc "schedules.N.schedule.
// interval.foo" rather than pydantic's union-tagged path).
var keyExemptions = map[string]bool{
	"schedules.0.schedule": true,
	"schedule":             true,
	"0.schedule":           true,
}

// prefectBodies runs testdata/gen_prefect_bodies.py with the Python of the
// pinned prefect package (PREFECTGO_TEST_PYTHON, set by `make test-go`), so
// Prefect's models are read from the wheel, never from a committed copy.
func prefectBodies(t *testing.T) []byte {
	t.Helper()
	python := os.Getenv("PREFECTGO_TEST_PYTHON")
	if python == "" {
		t.Skip("PREFECTGO_TEST_PYTHON is not set; `make test-go` sets it to the pinned prefect's venv")
	}
	cmd := exec.Command(python, "testdata/gen_prefect_bodies.py")
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gen_prefect_bodies.py: %v\n%s", err, stderr.String())
	}
	return out
}

// TestBodyKeysMatchPrefect checks every request type against Prefect's
// models: each key Prefect declares is accepted (a client sending it must
// not get a 422), an object Prefect closes rejects an unknown key with its
// full path, one Prefect leaves open ignores it, and a body is embedded
// (null means defaults, top-level extras are ignored) exactly when FastAPI
// embeds it.
func TestBodyKeysMatchPrefect(t *testing.T) {
	raw := prefectBodies(t)
	var spec map[string]prefectBody
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	a := &API{}
	routes := []struct {
		route, prefect string
		handler        any
	}{
		{"POST /flows", "POST /flows/", a.createFlow},
		{"POST /flows/filter", "POST /flows/filter", a.filterFlows},
		{"POST /flows/count", "POST /flows/count", a.countFlows},
		{"POST /flows/paginate", "POST /flows/paginate", a.paginateFlows},
		{"PATCH /flows/{id}", "PATCH /flows/{id}", a.updateFlow},
		{"POST /flow_runs", "POST /flow_runs/", a.createFlowRun},
		{"POST /flow_runs/filter", "POST /flow_runs/filter", a.filterFlowRuns},
		{"POST /flow_runs/count", "POST /flow_runs/count", a.countFlowRuns},
		{"POST /flow_runs/paginate", "POST /flow_runs/paginate", a.paginateFlowRuns},
		{"POST /flow_runs/lateness", "POST /flow_runs/lateness", a.flowRunLateness},
		{"POST /ui/flow_runs/history", "POST /ui/flow_runs/history", a.uiFlowRunHistory},
		{"POST /ui/flow_runs/count-task-runs", "POST /ui/flow_runs/count-task-runs", a.countTaskRunsByFlowRun},
		{"PATCH /flow_runs/{id}", "PATCH /flow_runs/{id}", a.updateFlowRun},
		{"PATCH /flow_runs/{id}/labels", "PATCH /flow_runs/{id}/labels", a.updateFlowRunLabels},
		{"POST /flow_runs/{id}/set_state", "POST /flow_runs/{id}/set_state", a.setFlowRunState},
		{"POST /task_runs", "POST /task_runs/", a.createTaskRun},
		{"POST /task_runs/filter", "POST /task_runs/filter", a.filterTaskRuns},
		{"POST /task_runs/count", "POST /task_runs/count", a.countTaskRuns},
		{"POST /task_runs/paginate", "POST /task_runs/paginate", a.paginateTaskRuns},
		{"POST /ui/task_runs/dashboard/counts", "POST /ui/task_runs/dashboard/counts", a.dashboardTaskRunCounts},
		{"POST /ui/task_runs/count", "POST /ui/task_runs/count", a.countTaskRunsByState},
		{"PATCH /task_runs/{id}", "PATCH /task_runs/{id}", a.updateTaskRun},
		{"POST /task_runs/{id}/set_state", "POST /task_runs/{id}/set_state", a.setTaskRunState},
		{"POST /task_workers/filter", "POST /task_workers/filter", a.filterTaskWorkers},
		{"POST /logs", "POST /logs/", a.createLogs},
		{"POST /logs/filter", "POST /logs/filter", a.filterLogs},
		{"POST /artifacts", "POST /artifacts/", a.createArtifact},
		{"POST /artifacts/filter", "POST /artifacts/filter", a.filterArtifacts},
		{"POST /artifacts/count", "POST /artifacts/count", a.countArtifacts},
		{"POST /artifacts/latest/filter", "POST /artifacts/latest/filter", a.filterLatestArtifacts},
		{"POST /artifacts/latest/count", "POST /artifacts/latest/count", a.countLatestArtifacts},
		{"PATCH /artifacts/{id}", "PATCH /artifacts/{id}", a.updateArtifact},
		{"POST /work_pools", "POST /work_pools/", a.createWorkPool},
		{"POST /work_pools/filter", "POST /work_pools/filter", a.filterWorkPools},
		{"POST /work_pools/count", "POST /work_pools/count", a.countWorkPools},
		{"PATCH /work_pools/{name}", "PATCH /work_pools/{name}", a.updateWorkPool},
		{"POST /work_pools/{name}/get_scheduled_flow_runs", "POST /work_pools/{name}/get_scheduled_flow_runs", a.getScheduledFlowRunsForPool},
		{"POST /work_pools/{pool}/queues", "POST /work_pools/{work_pool_name}/queues", a.createWorkQueue},
		{"POST /work_pools/{pool}/queues/filter", "POST /work_pools/{work_pool_name}/queues/filter", a.filterWorkQueuesInPool},
		{"PATCH /work_pools/{pool}/queues/{name}", "PATCH /work_pools/{work_pool_name}/queues/{name}", a.updateWorkQueueInPool},
		{"POST /work_pools/{pool}/workers/heartbeat", "POST /work_pools/{work_pool_name}/workers/heartbeat", a.workerHeartbeat},
		{"POST /work_pools/{pool}/workers/filter", "POST /work_pools/{work_pool_name}/workers/filter", a.filterWorkers},
		{"POST /work_queues", "POST /work_queues/", a.createLegacyWorkQueue},
		{"POST /work_queues/filter", "POST /work_queues/filter", a.filterLegacyWorkQueues},
		{"PATCH /work_queues/{id}", "PATCH /work_queues/{id}", a.updateLegacyWorkQueue},
		{"POST /work_pools/{name}/concurrency_status", "POST /work_pools/{name}/concurrency_status", a.readWorkPoolConcurrencyStatus},
		{"POST /work_queues/{id}/concurrency_status", "POST /work_queues/{id}/concurrency_status", a.readWorkQueueConcurrencyStatus},
		{"POST /work_queues/{id}/get_runs", "POST /work_queues/{id}/get_runs", a.readWorkQueueRuns},
		{"POST /deployments", "POST /deployments/", a.createDeployment},
		{"POST /deployments/filter", "POST /deployments/filter", a.filterDeployments},
		{"POST /deployments/count", "POST /deployments/count", a.countDeployments},
		{"POST /deployments/paginate", "POST /deployments/paginate", a.paginateDeployments},
		{"POST /deployments/get_scheduled_flow_runs", "POST /deployments/get_scheduled_flow_runs", a.getScheduledFlowRunsForDeployments},
		{"PATCH /deployments/{id}", "PATCH /deployments/{id}", a.updateDeployment},
		{"POST /deployments/{id}/create_flow_run", "POST /deployments/{id}/create_flow_run", a.createFlowRunFromDeployment},
		{"POST /deployments/{id}/create_flow_run/bulk", "POST /deployments/{id}/create_flow_run/bulk", a.bulkCreateFlowRunsFromDeployment},
		{"POST /deployments/{id}/schedule", "POST /deployments/{id}/schedule", a.scheduleDeployment},
		{"POST /deployments/{id}/schedules", "POST /deployments/{id}/schedules", a.createDeploymentSchedules},
		{"PATCH /deployments/{id}/schedules/{schedule_id}", "PATCH /deployments/{id}/schedules/{schedule_id}", a.updateDeploymentSchedule},
		{"POST /variables", "POST /variables/", a.createVariable},
		{"POST /variables/filter", "POST /variables/filter", a.filterVariables},
		{"POST /variables/count", "POST /variables/count", a.countVariables},
		{"PATCH /variables/name/{name}", "PATCH /variables/name/{name}", a.updateVariableByName},
		{"PATCH /variables/{id}", "PATCH /variables/{id}", a.updateVariable},
		{"PUT /saved_searches", "PUT /saved_searches/", a.upsertSavedSearch},
		{"POST /saved_searches/filter", "POST /saved_searches/filter", a.filterSavedSearches},
		{"POST /automations", "POST /automations/", a.createAutomation},
		{"POST /automations/filter", "POST /automations/filter", a.filterAutomations},
		{"POST /automations/count", "POST /automations/count", a.countAutomations},
		{"PUT /automations/{id}", "PUT /automations/{id}", a.updateAutomation},
		{"PATCH /automations/{id}", "PATCH /automations/{id}", a.patchAutomation},
		{"POST /ui/flows/count-deployments", "POST /ui/flows/count-deployments", a.countDeploymentsByFlow},
		{"POST /ui/flows/next-runs", "POST /ui/flows/next-runs", a.nextRunsByFlow},
		{"POST /v2/concurrency_limits", "POST /v2/concurrency_limits/", a.createConcurrencyLimit},
		{"POST /v2/concurrency_limits/filter", "POST /v2/concurrency_limits/filter", a.filterConcurrencyLimits},
		{"POST /v2/concurrency_limits/increment", "POST /v2/concurrency_limits/increment", a.incrementSlots},
		{"POST /v2/concurrency_limits/increment-with-lease", "POST /v2/concurrency_limits/increment-with-lease", a.incrementSlotsWithLease},
		{"POST /v2/concurrency_limits/decrement", "POST /v2/concurrency_limits/decrement", a.decrementSlots},
		{"POST /v2/concurrency_limits/decrement-with-lease", "POST /v2/concurrency_limits/decrement-with-lease", a.decrementSlotsWithLease},
		{"POST /v2/concurrency_limits/leases/{lease_id}/renew", "POST /v2/concurrency_limits/leases/{lease_id}/renew", a.renewLease},
		{"PATCH /v2/concurrency_limits/{id_or_name}", "PATCH /v2/concurrency_limits/{id_or_name}", a.updateConcurrencyLimit},
		{"POST /concurrency_limits", "POST /concurrency_limits/", a.createTagLimit},
		{"POST /concurrency_limits/filter", "POST /concurrency_limits/filter", a.filterTagLimits},
		{"POST /concurrency_limits/increment", "POST /concurrency_limits/increment", a.incrementTagSlots},
		{"POST /concurrency_limits/decrement", "POST /concurrency_limits/decrement", a.decrementTagSlots},
		{"POST /concurrency_limits/tag/{tag}/reset", "POST /concurrency_limits/tag/{tag}/reset", a.resetTagLimit},
		{"POST /block_types", "POST /block_types/", a.createBlockType},
		{"POST /block_types/filter", "POST /block_types/filter", a.filterBlockTypes},
		{"PATCH /block_types/{id}", "PATCH /block_types/{id}", a.updateBlockType},
		{"POST /block_schemas", "POST /block_schemas/", a.createBlockSchema},
		{"POST /block_schemas/filter", "POST /block_schemas/filter", a.filterBlockSchemas},
		{"POST /block_documents", "POST /block_documents/", a.createBlockDocument},
		{"POST /block_documents/filter", "POST /block_documents/filter", a.filterBlockDocuments},
		{"POST /block_documents/count", "POST /block_documents/count", a.countBlockDocuments},
		{"PATCH /block_documents/{id}", "PATCH /block_documents/{id}", a.updateBlockDocument},
		{"POST /events", "POST /events", a.createEvents},
		{"POST /events/filter", "POST /events/filter", a.readEvents},
		{"POST /events/count-by/{countable}", "POST /events/count-by/{countable}", a.countEvents},
	}
	for _, r := range routes {
		t.Run(r.route, func(t *testing.T) {
			want, ok := spec[r.prefect]
			if !ok {
				t.Fatalf("%s is not among Prefect's routes (gen_prefect_bodies.py)", r.prefect)
			}
			newBody := func() any { return reflect.New(reflect.TypeOf(r.handler).In(1).Elem()).Interface() }
			if got := schema.IsEmbedded(newBody()); got != want.Embedded {
				t.Errorf("embedded body: got %v, Prefect %v", got, want.Embedded)
			}
			checkKeys(t, newBody, want.Body, nil)
		})
	}
}

// checkKeys checks the Prefect object or list node at path (keys, and ""
// for a list's element) against the Go type, with synthetic bodies: the
// key check reads keys only, so every value can be null.
func checkKeys(t *testing.T, newBody func() any, n *prefectKey, path []string) {
	if n == nil || n.Ref != "" {
		return
	}
	if n.Items != nil {
		checkKeys(t, newBody, n.Items, append(slices.Clone(path), ""))
		return
	}
	if n.Keys == nil {
		return
	}
	at := strings.Join(locOf(path), ".")
	for _, k := range slices.Sorted(mapsKeys(n.Keys)) {
		if loc := schema.UnknownKey(newBody(), nest(path, `{"`+k+`": null}`)); loc != nil {
			t.Errorf("%s: Prefect declares %q, the Go type rejects it (loc %v)", at, k, loc)
		}
		checkKeys(t, newBody, n.Keys[k], append(slices.Clone(path), k))
	}
	if keyExemptions[at] {
		return
	}
	loc := schema.UnknownKey(newBody(), nest(path, `{"zz_unknown": null}`))
	switch wantLoc := append(locOf(path), "zz_unknown"); {
	case n.Forbid && !slices.Equal(loc, wantLoc):
		t.Errorf("%s: Prefect forbids unknown keys; the Go type answers loc %v, want %v", at, loc, wantLoc)
	case !n.Forbid && loc != nil:
		t.Errorf("%s: Prefect ignores unknown keys; the Go type rejects one (loc %v)", at, loc)
	}
}

// nest wraps inner in the objects and lists of path.
func nest(path []string, inner string) []byte {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == "" {
			inner = "[" + inner + "]"
		} else {
			inner = `{"` + path[i] + `": ` + inner + "}"
		}
	}
	return []byte(inner)
}

// locOf is path as UnknownKey reports it: a list's first element is "0".
func locOf(path []string) []string {
	out := make([]string, len(path))
	for i, p := range path {
		if p == "" {
			p = "0"
		}
		out[i] = p
	}
	return out
}

func mapsKeys(m map[string]*prefectKey) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
