package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

func TestLogs(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		runID := uuid.New()
		t0 := time.Now().UTC().Truncate(time.Microsecond)
		var batch []schema.LogCreate
		for i := range 1200 { // more than one INSERT's worth
			batch = append(batch, schema.LogCreate{Name: "prefect.flow_runs", Level: 20 + 10*(i%2), Message: "line",
				Timestamp: &schema.DateTime{Time: t0.Add(time.Duration(i) * time.Millisecond)}, FlowRunID: &runID})
		}
		created, err := s.CreateLogs(ctx, batch)
		require.NoError(t, err)
		require.Len(t, created, len(batch))
		limit := 200
		logs, err := s.FilterLogs(ctx, schema.LogQuery{Logs: &schema.LogFilter{FlowRunID: &schema.IDFilter{Any: []uuid.UUID{runID}},
			Level: &schema.IntFilter{GE: ptr(30)}}, Sort: "TIMESTAMP_DESC", Page: schema.Page{Limit: &limit}})
		require.NoError(t, err)
		require.Len(t, logs, 200)
		require.Equal(t, 30, logs[0].Level)
		require.True(t, logs[0].Timestamp.After(logs[1].Timestamp))
	})
}

func TestArtifacts(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		first, err := s.CreateArtifact(ctx, schema.ArtifactCreate{Key: ptr("report"), Type: ptr("markdown"), Data: json.RawMessage(`"v1"`), Metadata: json.RawMessage(`null`)})
		require.NoError(t, err)
		second, err := s.CreateArtifact(ctx, schema.ArtifactCreate{Key: ptr("report"), Type: ptr("markdown"), Data: json.RawMessage(`"v2"`), Metadata: json.RawMessage(`null`)})
		require.NoError(t, err)
		latest, err := s.ReadLatestArtifact(ctx, "report")
		require.NoError(t, err)
		require.Equal(t, second.ID, latest.ID)
		n, err := s.CountLatestArtifacts(ctx, schema.ArtifactQuery{})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.NoError(t, s.UpdateArtifact(ctx, first.ID, schema.ArtifactUpdate{Data: json.RawMessage(`"v1b"`)}))
		got, err := s.ReadArtifact(ctx, first.ID)
		require.NoError(t, err)
		require.JSONEq(t, `"v1b"`, string(got.Data))
		require.NoError(t, s.DeleteArtifact(ctx, first.ID))
		require.ErrorIs(t, s.DeleteArtifact(ctx, first.ID), schema.ErrNotFound)
	})
}

func TestEvents(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		e := schema.Event{ID: uuid.Must(uuid.NewV7()), Occurred: now, Event: "prefect.flow-run.Completed", Received: now,
			Resource: schema.Resource{"prefect.resource.id": "prefect.flow-run.1"},
			Related:  []schema.Resource{{"prefect.resource.id": "prefect.flow.2", "prefect.resource.role": "flow"}},
			Payload:  json.RawMessage(`{"a":1}`)}
		n, err := s.InsertEvents(ctx, []schema.Event{e, e})
		require.NoError(t, err)
		require.Equal(t, 1, n, "an event id is stored once")
		n, err = s.InsertEvents(ctx, []schema.Event{e})
		require.NoError(t, err)
		require.Zero(t, n)

		got, err := s.ReadEvents(ctx, store.EventFilter{ResourceIDs: []string{"prefect.flow.2"}}, 10)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, e.ID, got[0].ID)
		require.Equal(t, "flow", got[0].Related[0].Role())
		c, err := s.CountEvents(ctx, store.EventFilter{Names: []string{"other"}})
		require.NoError(t, err)
		require.Zero(t, c)
	})
}

func TestCSRFTokens(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		exp := time.Now().Add(time.Hour)
		a, err := s.IssueCSRFToken(ctx, "client-1", exp)
		require.NoError(t, err)
		b, err := s.IssueCSRFToken(ctx, "client-1", exp)
		require.NoError(t, err)
		require.NotEqual(t, a.Token, b.Token)
		got, err := s.ReadCSRFToken(ctx, "client-1")
		require.NoError(t, err)
		require.Equal(t, b.Token, got.Token, "a new token replaces the old one")
		_, err = s.ReadCSRFToken(ctx, "nobody")
		require.ErrorIs(t, err, schema.ErrNotFound)
	})
}
