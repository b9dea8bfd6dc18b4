package load

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// The request and event bodies, shaped as prefect 3.9.1's client sends them
// (the task-run events follow server/events/testdata/client-3.9.1-events.jsonl).

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func state(typ, name string) map[string]any {
	return map[string]any{"type": typ, "name": name, "message": "", "state_details": map[string]any{}}
}

func flowRunCreate(flowID string, i int, st map[string]any, tags []string) map[string]any {
	return map[string]any{
		"flow_id":    flowID,
		"name":       fmt.Sprintf("bench-run-%d", i),
		"parameters": map[string]any{"n": i},
		"context":    map[string]any{},
		"tags":       tags,
		"labels":     map[string]any{},
		"empirical_policy": map[string]any{
			"max_retries": 0, "retry_delay_seconds": 0.0, "retries": 0, "retry_delay": 0,
		},
		"state": st,
	}
}

func setState(typ, name string) map[string]any {
	return map[string]any{"state": state(typ, name), "force": false}
}

// taskRunEvents are the three prefect.task-run.<State> events a client
// emits for one task run that goes Pending, Running, Completed.
func taskRunEvents(flowID, flowRunID string, n int) []map[string]any {
	taskRunID := uuid.Must(uuid.NewV7()).String()
	name := fmt.Sprintf("add-%d", n)
	start := time.Now()
	related := []map[string]string{
		{"prefect.resource.id": "prefect.tag.bench", "prefect.resource.role": "tag"},
		{"prefect.resource.id": "prefect.flow-run." + flowRunID, "prefect.resource.role": "flow-run", "prefect.resource.name": "bench-run"},
		{"prefect.resource.id": "prefect.flow." + flowID, "prefect.resource.role": "flow", "prefect.resource.name": "bench-lifecycle"},
	}
	var out []map[string]any
	var follows any
	var prev map[string]any
	steps := []struct{ typ, name string }{{"PENDING", "Pending"}, {"RUNNING", "Running"}, {"COMPLETED", "Completed"}}
	for i, s := range steps {
		at := start.Add(time.Duration(i) * time.Millisecond)
		id := uuid.Must(uuid.NewV7()).String()
		runCount := 0
		if s.typ != "PENDING" {
			runCount = 1
		}
		taskRun := map[string]any{
			"name": name, "task_key": "add-83a2f660", "dynamic_key": fmt.Sprint(n),
			"empirical_policy": map[string]any{"max_retries": 0, "retry_delay_seconds": 0.0, "retries": 0, "retry_delay": 0},
			"tags":             []string{"bench"}, "labels": map[string]any{}, "task_inputs": map[string]any{"x": []any{}, "y": []any{}},
			"run_count": runCount, "flow_run_run_count": 1, "expected_start_time": stamp(start), "total_run_time": 0.0,
		}
		if s.typ != "PENDING" {
			taskRun["start_time"] = stamp(start)
		}
		if s.typ == "COMPLETED" {
			taskRun["end_time"] = stamp(at)
		}
		var intendedFrom any
		if prev != nil {
			intendedFrom = prev["type"]
		}
		validated := state(s.typ, s.name)
		validated["data"] = nil
		ev := map[string]any{
			"occurred": stamp(at),
			"event":    "prefect.task-run." + s.name,
			"resource": map[string]string{
				"prefect.resource.id":     "prefect.task-run." + taskRunID,
				"prefect.resource.name":   name,
				"prefect.run-count":       fmt.Sprint(runCount),
				"prefect.state-message":   "",
				"prefect.state-name":      s.name,
				"prefect.state-timestamp": at.UTC().Format("2006-01-02T15:04:05.000000+00:00"),
				"prefect.state-type":      s.typ,
				"prefect.orchestration":   "client",
			},
			"related": related,
			"payload": map[string]any{
				"intended":        map[string]any{"from": intendedFrom, "to": s.typ},
				"initial_state":   prev,
				"validated_state": validated,
				"task_run":        taskRun,
			},
			"id":      id,
			"follows": follows,
		}
		out = append(out, ev)
		follows, prev = id, state(s.typ, s.name)
	}
	return out
}

// plainEvent is an event no recorder acts on: ingestion and storage only.
func plainEvent(worker, seq int) map[string]any {
	return map[string]any{
		"occurred": stamp(time.Now()),
		"event":    "bench.ping",
		"resource": map[string]string{"prefect.resource.id": fmt.Sprintf("bench.worker.%d", worker), "prefect.resource.name": "bench"},
		"related": []map[string]string{
			{"prefect.resource.id": "prefect.tag.bench", "prefect.resource.role": "tag"},
		},
		"payload": map[string]any{"seq": seq, "note": "a benchmark event"},
		"id":      uuid.Must(uuid.NewV7()).String(),
	}
}

// logBatch is n log records of one flow run (and task run, when not empty),
// as the client's APILogHandler batches them.
func logBatch(flowRunID, taskRunID string, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		rec := map[string]any{
			"name": "prefect.task_runs", "level": 20,
			"message":     fmt.Sprintf("Finished in state Completed() (log %d of %d)", i+1, n),
			"timestamp":   stamp(time.Now()),
			"flow_run_id": flowRunID,
		}
		if taskRunID != "" {
			rec["task_run_id"] = taskRunID
		}
		out[i] = rec
	}
	return out
}
