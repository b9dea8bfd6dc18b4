package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// The fuzz targets run the filter-to-SQL builders on real databases: SQLite
// always, PostgreSQL too when PREFECTGO_TEST_POSTGRES_URL is set. Any
// decodable filter must be answered or refused as invalid; a driver error
// (a 500 over HTTP) or a panic is a failure. Seeds live in testdata/fuzz.

func fuzzStores(f *testing.F) map[string]store.Store {
	stores := map[string]store.Store{"sqlite": storetest.NewSQLite(f)}
	if os.Getenv(storetest.PostgresURLEnv) != "" {
		stores["postgres"] = storetest.NewPostgres(f)
	}
	return stores
}

// answered fails unless err is nil or a validation error.
func answered(t *testing.T, backend, body string, err error) bool {
	t.Helper()
	var verr *schema.ValidationError
	if err != nil && !errors.As(err, &verr) {
		t.Fatalf("%s: %v\nfilter: %.2000s", backend, err, body)
	}
	return err == nil
}

func FuzzFlowRunFilter(f *testing.F) {
	ctx := context.Background()
	stores := fuzzStores(f)
	for _, s := range stores {
		flow, _, err := s.UpsertFlow(ctx, schema.FlowCreate{Name: "etl", Tags: []string{"a"}, Labels: json.RawMessage(`{}`)})
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range []string{"brave-otter", `Odd_Name\50%`, "ÉTÉ"} {
			_, _, err := storetest.Writes(s).CreateFlowRun(ctx, schema.FlowRun{ID: uuid.Must(uuid.NewV7()), Name: name, FlowID: flow.ID,
				Parameters: json.RawMessage(`{}`), Context: json.RawMessage(`{}`), Labels: json.RawMessage(`{}`),
				JobVariables: json.RawMessage(`{}`), Tags: []string{"nightly"}, EmpiricalPolicy: schema.FlowRunPolicy{PauseKeys: []string{}}})
			if err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Add(`{"flow_runs": {"name": {"like_": "otter"}}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var q schema.Query
		if json.Unmarshal([]byte(body), &q) != nil {
			return
		}
		// The HTTP layer's paging rules (checkPage).
		if q.Offset < 0 || q.Limit != nil && (*q.Limit < 0 || *q.Limit > 200) {
			return
		}
		if q.Limit == nil {
			limit := 200
			q.Limit = &limit
		}
		for name, s := range stores {
			runs, err := s.FilterFlowRuns(ctx, q)
			if !answered(t, name, body, err) {
				continue
			}
			n, err := s.CountFlowRuns(ctx, q)
			if answered(t, name, body, err) && q.Offset == 0 && n != len(runs) {
				t.Fatalf("%s: count %d, filter %d\nfilter: %.2000s", name, n, len(runs), body)
			}
			_, err = s.FilterTaskRuns(ctx, q)
			answered(t, name, body, err)
			_, err = s.FilterFlows(ctx, q)
			answered(t, name, body, err)
			_, err = s.FilterDeployments(ctx, schema.DeploymentQuery{Flows: q.Flows, FlowRuns: q.FlowRuns, TaskRuns: q.TaskRuns,
				Deployments: q.Deployments, WorkPools: q.WorkPools, WorkPoolQueues: q.WorkPoolQueues, Page: q.Page})
			answered(t, name, body, err)
		}
	})
}

// FuzzEventFilter also checks the SQL against the filter's in-memory meaning
// (schema.EventFilter.Includes) over a few stored events: both must select
// the same events.
func FuzzEventFilter(f *testing.F) {
	ctx := context.Background()
	stores := fuzzStores(f)
	now := time.Now().UTC().Truncate(time.Microsecond)
	events := []schema.Event{
		{Event: "prefect.flow-run.Completed", Resource: schema.Resource{"prefect.resource.id": "prefect.flow-run.1", "team": "data"},
			Related: []schema.Resource{{"prefect.resource.id": "prefect.flow.2", "prefect.resource.role": "flow"},
				{"prefect.resource.id": "prefect.tag.nightly", "prefect.resource.role": "tag"}}},
		{Event: "prefect.flow-run.Failed", Resource: schema.Resource{"prefect.resource.id": "prefect.flow-run.2", "team": "Ops"}},
		{Event: "Custom.Event_%", Resource: schema.Resource{"prefect.resource.id": "ÉTÉ.x", "k\"q": "v"},
			Related: []schema.Resource{{"prefect.resource.id": "prefect.flow.2", "prefect.resource.role": "parent", "team": "data"}}},
	}
	for i := range events {
		events[i].ID = uuid.Must(uuid.NewV7())
		events[i].Occurred = now.Add(-time.Duration(i) * time.Minute)
		events[i].Received = now
		events[i].Payload = json.RawMessage(`{"note":"hello World"}`)
	}
	for _, s := range stores {
		if _, err := s.InsertEvents(ctx, events); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(`{"event": {"prefix": ["prefect.flow-run."]}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var ef schema.EventFilter
		if json.Unmarshal([]byte(body), &ef) != nil {
			return
		}
		ef.Resolve(now.Add(time.Minute))
		want := 0
		for _, e := range events {
			if ef.Includes(e) {
				want++
			}
		}
		for name, s := range stores {
			got, err := s.QueryEvents(ctx, ef, 0, 50)
			if !answered(t, name, body, err) {
				continue
			}
			if len(got) != want {
				t.Fatalf("%s: the store selects %d events, Includes %d\nfilter: %.2000s", name, len(got), want, body)
			}
			n, err := s.CountEvents(ctx, store.EventFilter{Match: &ef})
			if answered(t, name, body, err) && n != want {
				t.Fatalf("%s: count %d, Includes %d\nfilter: %.2000s", name, n, want, body)
			}
		}
	})
}
