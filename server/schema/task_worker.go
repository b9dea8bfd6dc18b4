package schema

// TaskWorker is Prefect's TaskWorkerResponse: a task worker subscribed to
// this server, the task keys it serves and when it was last seen.
type TaskWorker struct {
	Identifier string   `json:"identifier"`
	TaskKeys   []string `json:"task_keys"`
	Timestamp  DateTime `json:"timestamp"`
}

// TaskWorkersRequest is the body of POST /task_workers/filter.
type TaskWorkersRequest struct {
	TaskWorkerFilter *TaskWorkerFilter `json:"task_worker_filter"`
}

// EmbeddedBody marks TaskWorkersRequest as FastAPI's embedded body.
func (TaskWorkersRequest) EmbeddedBody() {}

// Validate requires the filter's task_keys when a filter is sent.
func (r *TaskWorkersRequest) Validate() error {
	if r.TaskWorkerFilter != nil && r.TaskWorkerFilter.TaskKeys == nil {
		return Invalid("task_worker_filter.task_keys", "Field required")
	}
	return nil
}

// TaskWorkerFilter is Prefect's TaskWorkerFilter: the workers serving any
// of these task keys (all workers when empty). Like Prefect's plain model it
// ignores unknown keys.
type TaskWorkerFilter struct {
	TaskKeys []string `json:"task_keys"`
}

// IgnoresUnknownKeys marks TaskWorkerFilter as lenient.
func (TaskWorkerFilter) IgnoresUnknownKeys() {}
