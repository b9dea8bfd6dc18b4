package httpapi

import (
	"net/http"

	"prefectgo.dev/prefectgo/server/schema"
)

// TaskWorkers is the server's side of the background task workers
// (server/taskworkers): their WebSocket, and the workers subscribed to this
// replica.
type TaskWorkers interface {
	// ServeHTTP serves /task_runs/subscriptions/scheduled.
	http.Handler
	// Workers lists the workers serving any of keys (all when empty).
	Workers(keys []string) []schema.TaskWorker
}

// filterTaskWorkers lists the task workers subscribed to this replica, as
// Prefect lists those of its process.
func (a *API) filterTaskWorkers(_ *http.Request, req *schema.TaskWorkersRequest) (response, error) {
	var keys []string
	if req.TaskWorkerFilter != nil {
		keys = req.TaskWorkerFilter.TaskKeys
	}
	return ok(a.taskWorkers.Workers(keys)), nil
}
