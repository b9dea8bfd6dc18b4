package sqlstore_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// BenchmarkFlowRunFilterIDs reads 100 ids (50 of them stored) out of 1,000
// flow runs by id.any_, the shape of a UI page asking for its runs.
func BenchmarkFlowRunFilterIDs(b *testing.B) {
	openers := map[string]storetest.Opener{"sqlite": storetest.NewSQLite}
	if os.Getenv(storetest.PostgresURLEnv) != "" {
		openers["postgres"] = storetest.NewPostgres
	}
	for name, open := range openers {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s := open(b)
			flow := storetest.Flow(b, s, "etl")
			var ids []uuid.UUID
			for i := range 1000 {
				id := uuid.Must(uuid.NewV7())
				_, _, err := storetest.Writes(s).CreateFlowRun(ctx, schema.FlowRun{ID: id, Name: "run", FlowID: flow.ID,
					Parameters: json.RawMessage(`{}`), Context: json.RawMessage(`{}`), Labels: json.RawMessage(`{}`),
					JobVariables: json.RawMessage(`{}`), Tags: []string{}, EmpiricalPolicy: schema.FlowRunPolicy{PauseKeys: []string{}}})
				if err != nil {
					b.Fatal(err)
				}
				if i%20 == 0 {
					ids = append(ids, id, uuid.New())
				}
			}
			limit := 200
			q := schema.Query{FlowRuns: &schema.FlowRunFilter{ID: &schema.IDFilter{Any: ids}}, Page: schema.Page{Limit: &limit}}
			b.ResetTimer()
			for b.Loop() {
				runs, err := s.FilterFlowRuns(ctx, q)
				if err != nil || len(runs) != 50 {
					b.Fatal(len(runs), err)
				}
			}
		})
	}
}

// BenchmarkInsertEvents writes batches of 500 events shaped as the client's
// task-run state events (a resource of eight labels, three related
// resources, a payload of the task run), as the event persister does under
// load; each op is one batch.
func BenchmarkInsertEvents(b *testing.B) {
	openers := map[string]storetest.Opener{"sqlite": storetest.NewSQLite}
	if os.Getenv(storetest.PostgresURLEnv) != "" {
		openers["postgres"] = storetest.NewPostgres
	}
	payload := json.RawMessage(`{"intended":{"from":"PENDING","to":"RUNNING"},"initial_state":{"type":"PENDING","name":"Pending","message":"","state_details":{}},` +
		`"validated_state":{"type":"RUNNING","name":"Running","message":"","state_details":{},"data":null},"task_run":{"name":"add-1","task_key":"add-83a2f660",` +
		`"dynamic_key":"1","empirical_policy":{"max_retries":0,"retry_delay_seconds":0.0,"retries":0,"retry_delay":0},"tags":["bench"],"labels":{},` +
		`"task_inputs":{"x":[],"y":[]},"run_count":1,"flow_run_run_count":1,"expected_start_time":"2026-12-06T05:00:00.000000Z","total_run_time":0.0}}`)
	for name, open := range openers {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s := open(b)
			flowRun, flow := uuid.New().String(), uuid.New().String()
			batch := make([]schema.Event, 500)
			b.ResetTimer()
			for b.Loop() {
				now := time.Now()
				for i := range batch {
					batch[i] = schema.Event{ID: uuid.Must(uuid.NewV7()), Occurred: now, Received: now, Event: "prefect.task-run.Running",
						Resource: schema.Resource{"prefect.resource.id": "prefect.task-run." + uuid.NewString(), "prefect.resource.name": "add-1",
							"prefect.run-count": "1", "prefect.state-message": "", "prefect.state-name": "Running",
							"prefect.state-timestamp": now.Format(time.RFC3339Nano), "prefect.state-type": "RUNNING", "prefect.orchestration": "client"},
						Related: []schema.Resource{
							{"prefect.resource.id": "prefect.tag.bench", "prefect.resource.role": "tag"},
							{"prefect.resource.id": "prefect.flow-run." + flowRun, "prefect.resource.role": "flow-run", "prefect.resource.name": "bench-run"},
							{"prefect.resource.id": "prefect.flow." + flow, "prefect.resource.role": "flow", "prefect.resource.name": "bench-lifecycle"},
						},
						Payload: payload}
				}
				if n, err := s.InsertEvents(ctx, batch); err != nil || n != len(batch) {
					b.Fatal(n, err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
		})
	}
}
