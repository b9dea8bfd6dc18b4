package httpapi

import (
	"net/http"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// createTaskRun creates a task run (or returns the one with the same flow
// run, task key and dynamic key) with its initial state, Pending unless given.
func (a *API) createTaskRun(r *http.Request, req *schema.TaskRunCreate) (response, error) {
	run := schema.TaskRun{
		ID: uuid.Must(uuid.NewV7()), Name: *req.Name, FlowRunID: req.FlowRunID, TaskKey: req.TaskKey,
		DynamicKey: req.DynamicKey, CacheKey: req.CacheKey, CacheExpiration: req.CacheExpiration.Ptr(),
		TaskVersion: req.TaskVersion, EmpiricalPolicy: *req.EmpiricalPolicy, Tags: req.Tags, Labels: req.Labels,
		TaskInputs: req.TaskInputs,
	}
	if req.ID != nil {
		run.ID = *req.ID
	}
	if req.State != nil {
		initial := req.State.ToState(a.clock())
		run.State = &initial
	}
	stored, isNew, err := a.runs.CreateTaskRun(r.Context(), run)
	if err != nil {
		return response{}, err
	}
	return createdOr(isNew, stored), nil
}

func (a *API) readTaskRun(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	run, err := a.store.ReadTaskRun(r.Context(), id)
	return ok(run), orNotFound(err, "Task run")
}

func (a *API) updateTaskRun(r *http.Request, u *schema.TaskRunUpdate) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return noContent(), orNotFound(a.store.UpdateTaskRun(r.Context(), id, *u), "Task run")
}

func (a *API) deleteTaskRun(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return noContent(), orNotFound(a.store.DeleteTaskRun(r.Context(), id), "Task run")
}

func (a *API) filterTaskRuns(r *http.Request, q *schema.Query) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	runs, err := a.store.FilterTaskRuns(r.Context(), *q)
	return ok(runs), err
}

func (a *API) countTaskRuns(r *http.Request, q *schema.Query) (response, error) {
	n, err := a.store.CountTaskRuns(r.Context(), *q)
	return ok(n), err
}

func (a *API) paginateTaskRuns(r *http.Request, q *schema.Query) (response, error) {
	return paginate(a, &q.Page, q.PageNumber,
		func() ([]schema.TaskRunResponse, error) {
			runs, err := a.store.FilterTaskRuns(r.Context(), *q)
			out := make([]schema.TaskRunResponse, len(runs))
			for i, run := range runs {
				out[i] = run.Response()
			}
			return out, err
		},
		func() (int, error) { return a.store.CountTaskRuns(r.Context(), *q) })
}

// setTaskRunState proposes a state through the runs service. 201 means a
// new state was written, 200 not.
func (a *API) setTaskRunState(r *http.Request, req *schema.SetStateRequest) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	if err := req.State.Validate(); err != nil {
		return response{}, err
	}
	res, err := a.runs.SetTaskRunState(r.Context(), id, schema.TaskRunTransition{State: req.State, Force: req.Force})
	if err != nil {
		return response{}, orNotFound(err, "Task run")
	}
	return stateResponse(res), nil
}

func (a *API) readTaskRunState(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	st, err := a.store.ReadTaskRunState(r.Context(), id)
	return ok(st), orNotFound(err, "Task run state")
}

func (a *API) readTaskRunStates(r *http.Request, _ *none) (response, error) {
	id, err := uuid.Parse(r.URL.Query().Get("task_run_id"))
	if err != nil {
		return response{}, invalid([]string{"query", "task_run_id"}, "Input should be a valid UUID", "uuid_parsing", nil)
	}
	states, err := a.store.ReadTaskRunStates(r.Context(), id)
	return ok(states), err
}
