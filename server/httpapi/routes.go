package httpapi

import (
	"net/http"
	"strings"
)

// routes is the whole API surface on one screen. Paths are written without
// trailing slashes; the middleware strips them from requests, so both forms
// Prefect clients use are served.
func (a *API) routes() http.Handler {
	api := http.NewServeMux()
	route := func(pattern string, h http.Handler) { api.Handle(pattern, h) }

	// Root and admin: probes, versions, CSRF.
	route("GET /health", endpoint(a, a.health))
	route("GET /ready", endpoint(a, a.ready))
	route("GET /version", endpoint(a, a.apiVersion))
	route("GET /hello", endpoint(a, a.hello))
	route("GET /admin/version", endpoint(a, a.serverVersion))
	route("GET /admin/settings", endpoint(a, a.adminSettings))
	route("GET /admin/storage", endpoint(a, a.adminStorage))
	route("GET /csrf-token", endpoint(a, a.csrfToken))

	// Flows.
	route("POST /flows", endpoint(a, a.createFlow))
	route("POST /flows/filter", endpoint(a, a.filterFlows))
	route("POST /flows/count", endpoint(a, a.countFlows))
	route("GET /flows/name/{name}", endpoint(a, a.readFlowByName))
	route("GET /flows/{id}", endpoint(a, a.readFlow))
	route("PATCH /flows/{id}", endpoint(a, a.updateFlow))
	route("DELETE /flows/{id}", endpoint(a, a.deleteFlow))

	// Flow runs and their states.
	route("POST /flow_runs", endpoint(a, a.createFlowRun))
	route("POST /flow_runs/filter", endpoint(a, a.filterFlowRuns))
	route("POST /flow_runs/count", endpoint(a, a.countFlowRuns))
	route("GET /flow_runs/{id}", endpoint(a, a.readFlowRun))
	route("PATCH /flow_runs/{id}", endpoint(a, a.updateFlowRun))
	route("PATCH /flow_runs/{id}/labels", endpoint(a, a.updateFlowRunLabels))
	route("DELETE /flow_runs/{id}", endpoint(a, a.deleteFlowRun))
	route("POST /flow_runs/{id}/set_state", endpoint(a, a.setFlowRunState))
	route("GET /flow_run_states", endpoint(a, a.readFlowRunStates))
	route("GET /flow_run_states/{id}", endpoint(a, a.readFlowRunState))

	// Task runs and their states.
	route("POST /task_runs", endpoint(a, a.createTaskRun))
	route("POST /task_runs/filter", endpoint(a, a.filterTaskRuns))
	route("POST /task_runs/count", endpoint(a, a.countTaskRuns))
	route("GET /task_runs/{id}", endpoint(a, a.readTaskRun))
	route("PATCH /task_runs/{id}", endpoint(a, a.updateTaskRun))
	route("DELETE /task_runs/{id}", endpoint(a, a.deleteTaskRun))
	route("POST /task_runs/{id}/set_state", endpoint(a, a.setTaskRunState))
	route("GET /task_run_states", endpoint(a, a.readTaskRunStates))
	route("GET /task_run_states/{id}", endpoint(a, a.readTaskRunState))

	// Logs.
	route("POST /logs", endpoint(a, a.createLogs))
	route("POST /logs/filter", endpoint(a, a.filterLogs))

	// Artifacts.
	route("POST /artifacts", endpoint(a, a.createArtifact))
	route("POST /artifacts/filter", endpoint(a, a.filterArtifacts))
	route("POST /artifacts/count", endpoint(a, a.countArtifacts))
	route("POST /artifacts/latest/filter", endpoint(a, a.filterLatestArtifacts))
	route("POST /artifacts/latest/count", endpoint(a, a.countLatestArtifacts))
	route("GET /artifacts/{key}/latest", endpoint(a, a.readLatestArtifact))
	route("GET /artifacts/{id}", endpoint(a, a.readArtifact))
	route("PATCH /artifacts/{id}", endpoint(a, a.updateArtifact))
	route("DELETE /artifacts/{id}", endpoint(a, a.deleteArtifact))

	// Work pools, queues and workers.

	// Deployments and their schedules.

	// Variables.

	// Concurrency limits (v2 with leases, and the v1 tag routes on top).

	// Blocks: types, schemas, documents.

	// Events.
	if a.eventsIn != nil {
		route("GET /events/in", a.eventsIn)
	}
	route("POST /events", endpoint(a, a.createEvents))

	// Everything else under the base path: Prefect's 404 body.
	route("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
	}))

	root := http.NewServeMux()
	base := strings.TrimSuffix(a.settings.API.BasePath, "/")
	root.Handle(base+"/", http.StripPrefix(base, api))
	root.Handle("GET /ui-settings", endpoint(a, a.uiSettings))
	root.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
	}))
	return root
}
