package httpapi

import (
	"net/http"
	"strings"
)

// access says how a route authenticates when PREFECT_SERVER_API_AUTH_STRING
// is set. Every route is private unless the table says otherwise.
type access int

const (
	// accessPrivate routes need the basic-auth header.
	accessPrivate access = iota
	// accessProbe routes (GET health and readiness) are open, as in Prefect, so
	// Kubernetes can probe without credentials.
	accessProbe
	// accessSocket routes are WebSockets: an upgrade authenticates in the
	// handshake's auth message (clients send no header on the upgrade); any
	// other request to them needs the header like a private route.
	accessSocket
)

// apiRoute is one entry of the API's route table.
type apiRoute struct {
	pattern string
	handler http.Handler
	access  access
}

// routeTable is the whole API surface on one screen. Paths are written
// without trailing slashes; the middleware strips them from requests, so
// both forms Prefect clients use are served.
func (a *API) routeTable() []apiRoute {
	var table []apiRoute
	add := func(acc access) func(string, http.Handler) {
		return func(pattern string, h http.Handler) { table = append(table, apiRoute{pattern, h, acc}) }
	}
	route, probe, socket := add(accessPrivate), add(accessProbe), add(accessSocket)

	// Root and admin: probes, versions, CSRF.
	probe("GET /health", endpoint(a, a.health))
	probe("GET /ready", endpoint(a, a.ready))
	route("GET /version", endpoint(a, a.apiVersion))
	route("GET /hello", endpoint(a, a.hello))
	route("GET /admin/version", endpoint(a, a.serverVersion))
	route("GET /admin/settings", endpoint(a, a.adminSettings))
	route("GET /admin/storage", endpoint(a, a.adminStorage))
	route("PUT /admin/storage", endpoint(a, a.setAdminStorage))
	route("DELETE /admin/storage", endpoint(a, a.clearAdminStorage))
	route("GET /csrf-token", endpoint(a, a.csrfToken))
	if a.metrics != nil {
		route("GET /metrics", a.metrics.Handler())
	}

	// Flows.
	route("POST /flows", endpoint(a, a.createFlow))
	route("POST /flows/filter", endpoint(a, a.filterFlows))
	route("POST /flows/count", endpoint(a, a.countFlows))
	route("POST /flows/paginate", endpoint(a, a.paginateFlows))
	route("POST /flows/bulk_delete", endpoint(a, a.bulkDeleteFlows))
	route("GET /flows/name/{name}", endpoint(a, a.readFlowByName))
	route("GET /flows/{id}", endpoint(a, a.readFlow))
	route("PATCH /flows/{id}", endpoint(a, a.updateFlow))
	route("DELETE /flows/{id}", endpoint(a, a.deleteFlow))

	// Flow runs and their states.
	route("POST /flow_runs", endpoint(a, a.createFlowRun))
	route("POST /flow_runs/filter", endpoint(a, a.filterFlowRuns))
	route("POST /flow_runs/count", endpoint(a, a.countFlowRuns))
	route("POST /flow_runs/paginate", endpoint(a, a.paginateFlowRuns))
	route("POST /flow_runs/bulk_delete", endpoint(a, a.bulkDeleteFlowRuns))
	route("POST /flow_runs/bulk_set_state", endpoint(a, a.bulkSetFlowRunState))
	route("POST /flow_runs/lateness", endpoint(a, a.flowRunLateness))
	route("POST /flow_runs/history", endpoint(a, a.flowRunHistory))
	route("GET /flow_runs/{id}", endpoint(a, a.readFlowRun))
	route("GET /flow_runs/{id}/graph", endpoint(a, a.readTaskRunDependencies))
	route("GET /flow_runs/{id}/graph-v2", endpoint(a, a.readFlowRunGraph))
	route("GET /observed-states", endpoint(a, a.readObservedStates))
	route("PATCH /flow_runs/{id}", endpoint(a, a.updateFlowRun))
	route("PATCH /flow_runs/{id}/labels", endpoint(a, a.updateFlowRunLabels))
	route("DELETE /flow_runs/{id}", endpoint(a, a.deleteFlowRun))
	route("POST /flow_runs/{id}/set_state", endpoint(a, a.setFlowRunState))
	route("POST /flow_runs/{id}/resume", endpoint(a, a.resumeFlowRun))
	route("POST /flow_runs/{id}/input", endpoint(a, a.createFlowRunInput))
	route("POST /flow_runs/{id}/input/filter", endpoint(a, a.filterFlowRunInputs))
	route("GET /flow_runs/{id}/input/{key}", http.HandlerFunc(a.readFlowRunInput))
	route("DELETE /flow_runs/{id}/input/{key}", endpoint(a, a.deleteFlowRunInput))
	route("GET /flow_run_states", endpoint(a, a.readFlowRunStates))
	route("GET /flow_run_states/{id}", endpoint(a, a.readFlowRunState))
	route("POST /ui/flow_runs/history", endpoint(a, a.uiFlowRunHistory))
	route("POST /ui/flow_runs/count-task-runs", endpoint(a, a.countTaskRunsByFlowRun))

	// Task runs and their states.
	route("POST /task_runs", endpoint(a, a.createTaskRun))
	route("POST /task_runs/filter", endpoint(a, a.filterTaskRuns))
	route("POST /task_runs/count", endpoint(a, a.countTaskRuns))
	route("POST /task_runs/paginate", endpoint(a, a.paginateTaskRuns))
	route("POST /task_runs/history", endpoint(a, a.taskRunHistory))
	route("GET /task_runs/{id}", endpoint(a, a.readTaskRun))
	route("PATCH /task_runs/{id}", endpoint(a, a.updateTaskRun))
	route("DELETE /task_runs/{id}", endpoint(a, a.deleteTaskRun))
	route("POST /task_runs/{id}/set_state", endpoint(a, a.setTaskRunState))
	route("GET /task_run_states", endpoint(a, a.readTaskRunStates))
	route("GET /task_run_states/{id}", endpoint(a, a.readTaskRunState))
	route("POST /ui/task_runs/dashboard/counts", endpoint(a, a.dashboardTaskRunCounts))
	route("POST /ui/task_runs/count", endpoint(a, a.countTaskRunsByState))
	route("GET /ui/task_runs/{id}", endpoint(a, a.readUITaskRun))
	if a.taskWorkers != nil {
		socket("GET /task_runs/subscriptions/scheduled", a.taskWorkers)
		route("POST /task_workers/filter", endpoint(a, a.filterTaskWorkers))
	}

	// Logs.
	route("POST /logs", endpoint(a, a.createLogs))
	route("POST /logs/filter", endpoint(a, a.filterLogs))
	if a.logsOut != nil {
		socket("GET /logs/out", a.logsOut)
	}
	route("GET /flow_runs/{id}/logs/download", http.HandlerFunc(a.downloadFlowRunLogs))

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
	route("POST /work_pools", endpoint(a, a.createWorkPool))
	route("POST /work_pools/filter", endpoint(a, a.filterWorkPools))
	route("POST /work_pools/count", endpoint(a, a.countWorkPools))
	route("GET /work_pools/{name}", endpoint(a, a.readWorkPool))
	route("PATCH /work_pools/{name}", endpoint(a, a.updateWorkPool))
	route("DELETE /work_pools/{name}", endpoint(a, a.deleteWorkPool))
	route("POST /work_pools/{name}/get_scheduled_flow_runs", endpoint(a, a.getScheduledFlowRunsForPool))
	route("POST /work_pools/{name}/concurrency_status", endpoint(a, a.readWorkPoolConcurrencyStatus))
	route("POST /work_pools/{pool}/queues", endpoint(a, a.createWorkQueue))
	route("POST /work_pools/{pool}/queues/filter", endpoint(a, a.filterWorkQueuesInPool))
	route("GET /work_pools/{pool}/queues/{name}", endpoint(a, a.readWorkQueueInPool))
	route("PATCH /work_pools/{pool}/queues/{name}", endpoint(a, a.updateWorkQueueInPool))
	route("DELETE /work_pools/{pool}/queues/{name}", endpoint(a, a.deleteWorkQueueInPool))
	route("POST /work_pools/{pool}/workers/heartbeat", endpoint(a, a.workerHeartbeat))
	route("POST /work_pools/{pool}/workers/filter", endpoint(a, a.filterWorkers))
	route("DELETE /work_pools/{pool}/workers/{name}", endpoint(a, a.deleteWorker))
	if a.workerChannel != nil {
		socket("GET /work_pools/{pool}/workers/connect", a.workerChannel)
	}
	route("POST /work_queues", endpoint(a, a.createLegacyWorkQueue))
	route("POST /work_queues/filter", endpoint(a, a.filterLegacyWorkQueues))
	// /work_queues/name/{name} and /work_queues/{id}/status share a shape.
	route("GET /work_queues/{first}/{second}", a.workQueueByNameOrStatus())
	route("GET /work_queues/{id}", endpoint(a, a.readLegacyWorkQueue))
	route("PATCH /work_queues/{id}", endpoint(a, a.updateLegacyWorkQueue))
	route("DELETE /work_queues/{id}", endpoint(a, a.deleteLegacyWorkQueue))
	route("POST /work_queues/{id}/get_runs", endpoint(a, a.readWorkQueueRuns))
	route("POST /work_queues/{id}/concurrency_status", endpoint(a, a.readWorkQueueConcurrencyStatus))

	// Deployments and their schedules.
	route("POST /deployments", endpoint(a, a.createDeployment))
	route("POST /deployments/filter", endpoint(a, a.filterDeployments))
	route("POST /deployments/count", endpoint(a, a.countDeployments))
	route("POST /deployments/paginate", endpoint(a, a.paginateDeployments))
	route("POST /deployments/bulk_delete", endpoint(a, a.bulkDeleteDeployments))
	route("POST /deployments/get_scheduled_flow_runs", endpoint(a, a.getScheduledFlowRunsForDeployments))
	route("GET /deployments/name/{flow_name}/{deployment_name}", endpoint(a, a.readDeploymentByName))
	route("GET /deployments/{id}", endpoint(a, a.readDeployment))
	route("PATCH /deployments/{id}", endpoint(a, a.updateDeployment))
	route("DELETE /deployments/{id}", endpoint(a, a.deleteDeployment))
	route("POST /deployments/{id}/pause_deployment", endpoint(a, a.pauseDeployment))
	route("POST /deployments/{id}/resume_deployment", endpoint(a, a.resumeDeployment))
	route("POST /deployments/{id}/create_flow_run", endpoint(a, a.createFlowRunFromDeployment))
	route("POST /deployments/{id}/create_flow_run/bulk", endpoint(a, a.bulkCreateFlowRunsFromDeployment))
	route("POST /deployments/{id}/schedule", endpoint(a, a.scheduleDeployment))
	route("GET /deployments/{id}/work_queue_check", endpoint(a, a.workQueueCheck))
	route("GET /deployments/{id}/schedules", endpoint(a, a.readDeploymentSchedules))
	route("POST /deployments/{id}/schedules", endpoint(a, a.createDeploymentSchedules))
	route("PATCH /deployments/{id}/schedules/{schedule_id}", endpoint(a, a.updateDeploymentSchedule))
	route("DELETE /deployments/{id}/schedules/{schedule_id}", endpoint(a, a.deleteDeploymentSchedule))

	// Variables.
	route("POST /variables", endpoint(a, a.createVariable))
	route("POST /variables/filter", endpoint(a, a.filterVariables))
	route("POST /variables/count", endpoint(a, a.countVariables))
	route("GET /variables/name/{name}", endpoint(a, a.readVariableByName))
	route("PATCH /variables/name/{name}", endpoint(a, a.updateVariableByName))
	route("DELETE /variables/name/{name}", endpoint(a, a.deleteVariableByName))
	route("GET /variables/{id}", endpoint(a, a.readVariable))
	route("PATCH /variables/{id}", endpoint(a, a.updateVariable))
	route("DELETE /variables/{id}", endpoint(a, a.deleteVariable))

	// Saved searches: the UI's named filter sets.
	route("PUT /saved_searches", endpoint(a, a.upsertSavedSearch))
	route("POST /saved_searches/filter", endpoint(a, a.filterSavedSearches))
	route("GET /saved_searches/{id}", endpoint(a, a.readSavedSearch))
	route("DELETE /saved_searches/{id}", endpoint(a, a.deleteSavedSearch))

	// Automations: stored and listed; their triggers are not evaluated yet.
	route("POST /automations", endpoint(a, a.createAutomation))
	route("POST /automations/filter", endpoint(a, a.filterAutomations))
	route("POST /automations/count", endpoint(a, a.countAutomations))
	route("GET /automations/related-to/{resource_id}", endpoint(a, a.readAutomationsRelatedTo))
	route("DELETE /automations/owned-by/{resource_id}", endpoint(a, a.deleteAutomationsOwnedBy))
	route("GET /automations/{id}", endpoint(a, a.readAutomation))
	route("PUT /automations/{id}", endpoint(a, a.updateAutomation))
	route("PATCH /automations/{id}", endpoint(a, a.patchAutomation))
	route("DELETE /automations/{id}", endpoint(a, a.deleteAutomation))
	route("POST /templates/validate", endpoint(a, a.validateTemplate))
	route("POST /automations/templates/validate", endpoint(a, a.validateTemplate))

	// UI: what the flows page shows beside each flow, and its forms' checks.
	route("POST /ui/flows/count-deployments", endpoint(a, a.countDeploymentsByFlow))
	route("POST /ui/flows/next-runs", endpoint(a, a.nextRunsByFlow))
	route("POST /ui/schemas/validate", endpoint(a, a.validateSchemaValues))

	// Concurrency limits (v2 with leases, and the v1 tag routes on top).
	route("POST /v2/concurrency_limits", endpoint(a, a.createConcurrencyLimit))
	route("POST /v2/concurrency_limits/filter", endpoint(a, a.filterConcurrencyLimits))
	route("POST /v2/concurrency_limits/increment", endpoint(a, a.incrementSlots))
	route("POST /v2/concurrency_limits/increment-with-lease", endpoint(a, a.incrementSlotsWithLease))
	route("POST /v2/concurrency_limits/decrement", endpoint(a, a.decrementSlots))
	route("POST /v2/concurrency_limits/decrement-with-lease", endpoint(a, a.decrementSlotsWithLease))
	route("POST /v2/concurrency_limits/leases/{lease_id}/renew", endpoint(a, a.renewLease))
	route("GET /v2/concurrency_limits/{id_or_name}", endpoint(a, a.readConcurrencyLimit))
	route("PATCH /v2/concurrency_limits/{id_or_name}", endpoint(a, a.updateConcurrencyLimit))
	route("DELETE /v2/concurrency_limits/{id_or_name}", endpoint(a, a.deleteConcurrencyLimit))
	route("POST /concurrency_limits", endpoint(a, a.createTagLimit))
	route("POST /concurrency_limits/filter", endpoint(a, a.filterTagLimits))
	route("POST /concurrency_limits/increment", endpoint(a, a.incrementTagSlots))
	route("POST /concurrency_limits/decrement", endpoint(a, a.decrementTagSlots))
	route("GET /concurrency_limits/tag/{tag}", endpoint(a, a.readTagLimitByTag))
	route("DELETE /concurrency_limits/tag/{tag}", endpoint(a, a.deleteTagLimitByTag))
	route("POST /concurrency_limits/tag/{tag}/reset", endpoint(a, a.resetTagLimit))
	route("GET /concurrency_limits/{id}", endpoint(a, a.readTagLimit))
	route("DELETE /concurrency_limits/{id}", endpoint(a, a.deleteTagLimit))

	// Blocks: types, schemas, documents.
	route("POST /block_types", endpoint(a, a.createBlockType))
	route("POST /block_types/filter", endpoint(a, a.filterBlockTypes))
	route("POST /block_types/install_system_block_types", endpoint(a, a.installSystemBlockTypes))
	route("GET /block_types/slug/{slug}", endpoint(a, a.readBlockTypeBySlug))
	route("GET /block_types/slug/{slug}/block_documents", endpoint(a, a.readBlockDocumentsOfType))
	route("GET /block_types/slug/{slug}/block_documents/name/{name}", endpoint(a, a.readBlockDocumentByName))
	route("GET /block_types/{id}", endpoint(a, a.readBlockType))
	route("PATCH /block_types/{id}", endpoint(a, a.updateBlockType))
	route("DELETE /block_types/{id}", endpoint(a, a.deleteBlockType))
	route("POST /block_schemas", endpoint(a, a.createBlockSchema))
	route("POST /block_schemas/filter", endpoint(a, a.filterBlockSchemas))
	route("GET /block_schemas/checksum/{checksum}", endpoint(a, a.readBlockSchemaByChecksum))
	route("GET /block_schemas/{id}", endpoint(a, a.readBlockSchema))
	route("DELETE /block_schemas/{id}", endpoint(a, a.deleteBlockSchema))
	route("POST /block_documents", endpoint(a, a.createBlockDocument))
	route("POST /block_documents/filter", endpoint(a, a.filterBlockDocuments))
	route("POST /block_documents/count", endpoint(a, a.countBlockDocuments))
	route("GET /block_documents/{id}", endpoint(a, a.readBlockDocument))
	route("PATCH /block_documents/{id}", endpoint(a, a.updateBlockDocument))
	route("DELETE /block_documents/{id}", endpoint(a, a.deleteBlockDocument))
	route("GET /block_capabilities", endpoint(a, a.readBlockCapabilities))
	route("GET /collections/views/{view}", endpoint(a, a.readCollectionView))

	// Events.
	if a.eventsIn != nil {
		socket("GET /events/in", a.eventsIn)
	}
	route("POST /events", endpoint(a, a.createEvents))
	if a.eventsOut != nil {
		socket("GET /events/out", a.eventsOut)
	}
	route("POST /events/filter", endpoint(a, a.readEvents))
	route("GET /events/filter/next", endpoint(a, a.readEventsPage))
	route("POST /events/count-by/{countable}", endpoint(a, a.countEvents))

	return table
}

// routes serves the route table under the base path, each request
// authenticated as its route's access says, then through the API-version
// gate and CSRF; every other path goes to the UI, which is open, as
// Prefect's UI app: the UI reads /ui-settings, among them whether auth is
// on, before it has credentials.
func (a *API) routes() http.Handler {
	api := http.NewServeMux()
	accessOf := map[string]access{}
	for _, rt := range a.routeTable() {
		api.Handle(rt.pattern, rt.handler)
		accessOf[rt.pattern] = rt.access
	}
	// Everything else under the base path: Prefect's 404 body (private, so
	// an unauthenticated caller learns nothing of what exists).
	api.Handle("/", http.HandlerFunc(notFoundRoute))

	gated := a.authenticate(api, accessOf, a.apiVersionGate(a.csrf(a.notingPattern(api))))
	base := strings.TrimSuffix(a.settings.API.BasePath, "/")
	// Paths under the base path lose it; the base path itself (which the
	// trailing-slash tolerance makes of "/api/") is the API's root.
	underBase := http.StripPrefix(base, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" {
			r.URL.Path = "/"
		}
		gated.ServeHTTP(w, r)
	}))

	root := http.NewServeMux()
	root.Handle(base+"/", underBase)
	// The UI takes every other path; with the API at the root none is left,
	// as in Prefect, where the API's mount would take them all.
	if base != "" {
		root.Handle(base, underBase)
		root.Handle("/", a.ui)
	}
	return root
}

func notFoundRoute(w http.ResponseWriter, _ *http.Request) {
	writeMessage(w, http.StatusNotFound, "detail", "Not Found")
}
