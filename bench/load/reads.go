package load

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Seed states and tags: a quarter of the runs match the read filter
// (state COMPLETED and tag team-a).
var seedStates = [][2]string{{"COMPLETED", "Completed"}, {"FAILED", "Failed"}, {"COMPLETED", "Completed"}, {"RUNNING", "Running"}}

func seedTags(i int) []string {
	if i%2 == 0 {
		return []string{"bench", "team-a"}
	}
	return []string{"bench", "team-b"}
}

// Seed creates n flow runs, each with one task run, in their final states,
// through the API with concurrency workers. A run that still fails after
// DoRetry's retries is counted and skipped: Python's server on SQLite
// answers "database is locked" (503) often enough under this load. It
// returns how many were created, how many failed, and how long it took.
func Seed(ctx context.Context, c *Client, o Options, n, concurrency int) (created, failed int, took time.Duration, firstErr error) {
	var flow struct {
		ID string `json:"id"`
	}
	if err := c.DoRetry(ctx, "POST", "/flows/", map[string]string{"name": o.SeedFlowName}, &flow); err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	var next, ok, bad atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := seedOne(ctx, c, flow.ID, i); err != nil {
					bad.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load()), int(bad.Load()), time.Since(start), firstErr
}

func seedOne(ctx context.Context, c *Client, flowID string, i int) error {
	st := seedStates[i%len(seedStates)]
	var run struct {
		ID string `json:"id"`
	}
	if err := c.DoRetry(ctx, "POST", "/flow_runs/", flowRunCreate(flowID, i, state(st[0], st[1]), seedTags(i)), &run); err != nil {
		return err
	}
	return c.DoRetry(ctx, "POST", "/task_runs/", map[string]any{
		"flow_run_id": run.ID, "name": fmt.Sprintf("seed-task-%d", i), "task_key": "seed-task",
		"dynamic_key": fmt.Sprint(i), "tags": seedTags(i), "state": state(st[0], st[1]),
	}, nil)
}

// ReadFlowRuns pages the flow runs in state COMPLETED with tag team-a.
func ReadFlowRuns(o Options) Workload {
	return readWorkload("flow_runs/filter", "/flow_runs/filter", map[string]any{
		"flow_runs": map[string]any{
			"state": map[string]any{"type": map[string]any{"any_": []string{"COMPLETED"}}},
			"tags":  map[string]any{"all_": []string{"team-a"}},
		},
		"sort": "EXPECTED_START_TIME_DESC", "limit": o.ReadLimit,
	})
}

// ReadTaskRuns pages the task runs in state COMPLETED with tag team-a.
func ReadTaskRuns(o Options) Workload {
	return readWorkload("task_runs/filter", "/task_runs/filter", map[string]any{
		"task_runs": map[string]any{
			"state": map[string]any{"type": map[string]any{"any_": []string{"COMPLETED"}}},
			"tags":  map[string]any{"all_": []string{"team-a"}},
		},
		"sort": "EXPECTED_START_TIME_DESC", "limit": o.ReadLimit,
	})
}

func readWorkload(name, path string, body map[string]any) Workload {
	return Workload{Name: name, Unit: "reads", Setup: func(ctx context.Context, c *Client, worker int) (Worker, error) {
		return &reader{c: c, path: path, body: body}, nil
	}}
}

type reader struct {
	c    *Client
	path string
	body map[string]any
}

func (r *reader) Iterate(ctx context.Context, rec *Recorder) error {
	var rows []struct {
		StateType string   `json:"state_type"`
		Tags      []string `json:"tags"`
	}
	if err := timed(rec, func() error { return r.c.Do(ctx, "POST", r.path, r.body, &rows) }); err != nil {
		return err
	}
	// A read that finds nothing, or the wrong rows, measured nothing.
	if len(rows) == 0 {
		rec.Error(fmt.Errorf("%s: no rows", r.path))
		return nil
	}
	for _, row := range rows {
		if row.StateType != "COMPLETED" || !contains(row.Tags, "team-a") {
			rec.Error(fmt.Errorf("%s: a row outside the filter (%s %v)", r.path, row.StateType, row.Tags))
			return nil
		}
	}
	rec.Done(1)
	return nil
}

func (r *reader) Close(*Recorder) {}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
