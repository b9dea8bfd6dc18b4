package sqlstore_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

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
