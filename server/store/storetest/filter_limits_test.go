package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// Past both backends' limits on bound parameters (SQLite 32,766, PostgreSQL
// 65,535) and SQLite's expression depth (1,000) and LIKE pattern length
// (50,000 bytes).
const (
	hugeList  = 70_000
	longList  = 2_000
	longValue = 60_000
)

// ids is n fresh UUIDs with want among them, as a JSON array.
func idsWith(n int, want ...uuid.UUID) string {
	out := make([]string, 0, n+len(want))
	for range n {
		out = append(out, `"`+uuid.NewString()+`"`)
	}
	for _, w := range want {
		out = append(out, `"`+w.String()+`"`)
	}
	return "[" + strings.Join(out, ",") + "]"
}

// stringsWith is n distinct strings made with format, then want, as a JSON array.
func stringsWith(n int, format string, want ...string) string {
	out := make([]string, 0, n+len(want))
	for i := range n {
		out = append(out, fmt.Sprintf(`"`+format+`"`, i))
	}
	for _, w := range want {
		b, _ := json.Marshal(w)
		out = append(out, string(b))
	}
	return "[" + strings.Join(out, ",") + "]"
}

func decodeInto[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	return v
}

func requireInvalid(t *testing.T, err error, msg string) {
	t.Helper()
	var verr *schema.ValidationError
	require.True(t, errors.As(err, &verr), "want a validation error, got %v", err)
	require.Contains(t, verr.Error(), msg)
}

// Filters of any size are answered, not failed with a backend limit: any_
// lists past the bound-parameter limits, startswith_ lists past SQLite's
// expression depth, like_ values past SQLite's LIKE pattern length, on every
// filter family.
func TestFilterListsPastBackendLimits(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		flow := Flow(t, s, "etl")
		run := newRun(flow.ID)
		run.Name = `Brave_Otter\50%`
		_, _, err := Writes(s).CreateFlowRun(ctx, run)
		require.NoError(t, err)
		other := newRun(flow.ID)
		other.Name = "calm-heron"
		_, _, err = Writes(s).CreateFlowRun(ctx, other)
		require.NoError(t, err)

		runs := func(body string) []uuid.UUID {
			t.Helper()
			got, err := s.FilterFlowRuns(ctx, decodeInto[schema.Query](t, body))
			require.NoError(t, err, body[:min(len(body), 200)])
			n, err := s.CountFlowRuns(ctx, decodeInto[schema.Query](t, body))
			require.NoError(t, err)
			require.Len(t, got, n)
			ids := make([]uuid.UUID, len(got))
			for i, r := range got {
				ids[i] = r.ID
			}
			return ids
		}
		one := []uuid.UUID{run.ID}

		require.Equal(t, one, runs(`{"flow_runs": {"id": {"any_": `+idsWith(hugeList, run.ID)+`}}}`))
		require.Equal(t, []uuid.UUID{other.ID}, runs(`{"flow_runs": {"id": {"not_any_": `+idsWith(hugeList, run.ID)+`}}}`))
		require.Equal(t, one, runs(`{"flow_runs": {"name": {"any_": `+stringsWith(hugeList, "run-%d", run.Name)+`}}}`))
		require.Equal(t, one, runs(`{"flows": {"id": {"any_": `+idsWith(hugeList, flow.ID)+`}}, "flow_runs": {"name": {"not_any_": `+stringsWith(hugeList, "run-%d", "calm-heron")+`}}}`))
		require.Equal(t, one, runs(`{"flow_runs": {"name": {"startswith_": `+stringsWith(longList, "zz%d", "brave")+`}}}`))
		require.Empty(t, runs(`{"flow_runs": {"name": {"like_": "`+strings.Repeat("x", longValue)+`"}}}`))
		require.Equal(t, one, runs(`{"flow_runs": {"name": {"like_": "bRaVe_otter"}}}`), "like_ is case-insensitive")
		require.Equal(t, one, runs(`{"flow_runs": {"name": {"like_": "r\\5"}}}`), "a backslash is an ordinary character, not an escape")
		require.Equal(t, one, runs(`{"flow_runs": {"name": {"like_": "r\\"}}}`), "even at the end of the pattern")
		require.Equal(t, one, runs(`{"flow_runs": {"name": {"like_": "e_ot"}}}`), "_ matches any one character, as in Prefect")
		require.Equal(t, one, runs(`{"flow_runs": {"name": {"startswith_": ["BRAVE_"]}}}`), "startswith_ is case-insensitive, as in Prefect")
		require.Len(t, runs(`{"flow_runs": {"name": {"like_": ""}}}`), 2, "an empty like_ is no criterion")
		// The runs have no deployment and no work queue, which these require.
		require.Empty(t, runs(`{"deployments": {"id": {"not_any_": `+idsWith(hugeList)+`}}, "flow_runs": {"id": {"any_": ["`+run.ID.String()+`"]}}}`))
		require.Empty(t, runs(`{"work_pools": {"name": {"not_any_": `+stringsWith(hugeList, "pool-%d")+`}}, "work_pool_queues": {"name": {"startswith_": `+stringsWith(longList, "q%d")+`}}}`))

		flows, err := s.FilterFlows(ctx, decodeInto[schema.Query](t, `{"flows": {"name": {"any_": `+stringsWith(hugeList, "f-%d", "etl")+`}}}`))
		require.NoError(t, err)
		require.Len(t, flows, 1)
		_, err = s.FilterTaskRuns(ctx, decodeInto[schema.Query](t, `{"task_runs": {"flow_run_id": {"any_": `+idsWith(hugeList, run.ID)+`}}}`))
		require.NoError(t, err)
		_, err = s.FilterLogs(ctx, decodeInto[schema.LogQuery](t, `{"logs": {"flow_run_id": {"any_": `+idsWith(hugeList, run.ID)+`}}}`))
		require.NoError(t, err)
		_, err = s.FilterArtifacts(ctx, decodeInto[schema.ArtifactQuery](t, `{"artifacts": {"key": {"startswith_": `+stringsWith(longList, "k%d")+`}}}`))
		require.NoError(t, err)
		_, err = s.FilterVariables(ctx, decodeInto[schema.VariableQuery](t, `{"variables": {"name": {"any_": `+stringsWith(hugeList, "v%d")+`}}}`))
		require.NoError(t, err)
		_, err = s.FilterDeployments(ctx, decodeInto[schema.DeploymentQuery](t, `{"deployments": {"id": {"any_": `+idsWith(hugeList)+`}, "flow_or_deployment_name": {"like_": "`+strings.Repeat("y", longValue)+`"}}}`))
		require.NoError(t, err)
		_, err = s.FilterWorkPools(ctx, decodeInto[schema.WorkPoolQuery](t, `{"work_pools": {"type": {"any_": `+stringsWith(hugeList, "t%d")+`}}}`))
		require.NoError(t, err)
		_, err = s.FilterBlockDocuments(ctx, decodeInto[schema.BlockDocumentQuery](t, `{"block_documents": {"name": {"like_": "`+strings.Repeat("b", longValue)+`"}}}`))
		require.NoError(t, err)
	})
}

// What cannot be answered is refused as invalid (a 422), never a database
// error: a like_ pattern with wildcards past SQLite's pattern length, and
// the NUL character PostgreSQL cannot compare.
func TestFilterValuesRefused(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		_, err := s.FilterFlowRuns(ctx, decodeInto[schema.Query](t, `{"flow_runs": {"name": {"like_": "%`+strings.Repeat("x", longValue)+`"}}}`))
		requireInvalid(t, err, "like_")
		_, err = s.FilterFlowRuns(ctx, decodeInto[schema.Query](t, `{"flow_runs": {"name": {"startswith_": ["a", "_`+strings.Repeat("x", longValue)+`"]}}}`))
		requireInvalid(t, err, "startswith_")
		_, err = s.FilterFlows(ctx, decodeInto[schema.Query](t, `{"flows": {"name": {"any_": ["a\u0000b"]}}}`))
		requireInvalid(t, err, "NUL")
		_, err = s.QueryEvents(ctx, decodeInto[schema.EventFilter](t, `{"resource": {"labels": {"a\u0000": "b"}}}`), 0, 10)
		requireInvalid(t, err, "NUL")
	})
}

// The events filter takes lists of any size too: names, ids, prefixes,
// label values and related resources.
func TestEventFilterListsPastBackendLimits(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		e := schema.Event{ID: uuid.Must(uuid.NewV7()), Occurred: now, Event: "prefect.flow-run.Completed", Received: now,
			Resource: schema.Resource{"prefect.resource.id": "prefect.flow-run.1", "team": "data"},
			Related:  []schema.Resource{{"prefect.resource.id": "prefect.flow.2", "prefect.resource.role": "flow"}},
			Payload:  json.RawMessage(`{"a":1}`)}
		_, err := s.InsertEvents(ctx, []schema.Event{e})
		require.NoError(t, err)

		query := func(body string) int {
			t.Helper()
			f := decodeInto[schema.EventFilter](t, body)
			f.Resolve(now.Add(time.Minute))
			got, err := s.QueryEvents(ctx, f, 0, 10)
			require.NoError(t, err, body[:min(len(body), 200)])
			for _, g := range got {
				require.True(t, f.Includes(g), "the store and Includes agree")
			}
			return len(got)
		}
		require.Equal(t, 1, query(`{"id": {"id": `+idsWith(hugeList, e.ID)+`}}`))
		require.Equal(t, 1, query(`{"event": {"name": `+stringsWith(hugeList, "e%d", e.Event)+`, "exclude_name": `+stringsWith(hugeList, "x%d")+`}}`))
		require.Equal(t, 1, query(`{"event": {"prefix": `+stringsWith(longList, "p%d", "prefect.flow-run.")+`, "exclude_prefix": `+stringsWith(longList, "q%d")+`}}`))
		require.Equal(t, 1, query(`{"resource": {"id": `+stringsWith(hugeList, "r%d", "prefect.flow-run.1")+`, "id_prefix": `+stringsWith(longList, "r%d", "prefect.")+`}}`))
		require.Equal(t, 1, query(`{"resource": {"labels": {"team": `+stringsWith(hugeList, "t%d", "data", "!x*", "!y")+`}}}`))
		require.Equal(t, 1, query(`{"resource": {"labels": {"team": `+stringsWith(longList, "t%d*", "da*")+`}}}`))
		require.Equal(t, 1, query(`{"related": {"id": `+stringsWith(hugeList, "r%d", "prefect.flow.2")+`, "role": ["flow"]}}`))
		require.Equal(t, 1, query(`{"related": {"resources_in_roles": [`+strings.Repeat(`["a", "b"], `, longList)+`["prefect.flow.2", "flow"]]}}`))
		// PostgreSQL planned one IN sub-select per related filter in time
		// exponential in their number: minutes for these.
		require.Equal(t, 1, query(`{"related": [`+strings.Repeat(`{"role": ["flow"]}, `, 300)+`{"id": ["prefect.flow.2"]}]}`))
		require.Equal(t, 1, query(`{"any_resource": {"id_prefix": `+stringsWith(longList, "z%d", "prefect.flow.")+`}}`))

		n, err := s.CountEvents(ctx, store.EventFilter{Names: strings.Split(strings.Repeat("x,", hugeList)+e.Event, ",")})
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}
