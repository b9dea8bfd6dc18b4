package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

func TestFlows(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()

		f, created, err := s.UpsertFlow(ctx, schema.FlowCreate{Name: "etl", Tags: []string{"a", "b"}, Labels: json.RawMessage(`{}`)})
		require.NoError(t, err)
		require.True(t, created)
		again, created, err := s.UpsertFlow(ctx, schema.FlowCreate{Name: "etl", Tags: []string{}, Labels: json.RawMessage(`{}`)})
		require.NoError(t, err)
		require.False(t, created, "a second upsert by name returns the existing flow")
		require.Equal(t, f.ID, again.ID)
		require.Equal(t, []string{"a", "b"}, again.Tags)

		_, _, err = s.UpsertFlow(ctx, schema.FlowCreate{Name: "report", Tags: []string{"b"}, Labels: json.RawMessage(`{}`)})
		require.NoError(t, err)

		byName, err := s.ReadFlowByName(ctx, "etl")
		require.NoError(t, err)
		require.Equal(t, f.ID, byName.ID)
		_, err = s.ReadFlow(ctx, uuid.New())
		require.ErrorIs(t, err, schema.ErrNotFound)

		limit := 10
		all, err := s.FilterFlows(ctx, schema.Query{Page: schema.Page{Limit: &limit}})
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Equal(t, "etl", all[0].Name, "default sort is by name")

		tagged, err := s.FilterFlows(ctx, schema.Query{Flows: &schema.FlowFilter{Tags: &schema.TagsFilter{All: []string{"a", "b"}}}})
		require.NoError(t, err)
		require.Len(t, tagged, 1)
		n, err := s.CountFlows(ctx, schema.Query{Flows: &schema.FlowFilter{Tags: &schema.TagsFilter{Any: []string{"b"}}}})
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = s.CountFlows(ctx, schema.Query{Flows: &schema.FlowFilter{Name: &schema.TextFilter{Like: ptr("REP")}}})
		require.NoError(t, err)
		require.Equal(t, 1, n, "like_ is a case-insensitive substring match")

		require.NoError(t, s.UpdateFlow(ctx, f.ID, schema.FlowUpdate{Tags: &[]string{"c"}}))
		got, err := s.ReadFlow(ctx, f.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"c"}, got.Tags)

		run := newRun(f.ID)
		_, _, err = Writes(s).CreateFlowRun(ctx, run)
		require.NoError(t, err)
		require.NoError(t, s.DeleteFlow(ctx, f.ID))
		_, err = s.ReadFlowRun(ctx, run.ID)
		require.ErrorIs(t, err, schema.ErrNotFound, "deleting a flow deletes its runs")
		require.ErrorIs(t, s.DeleteFlow(ctx, f.ID), schema.ErrNotFound)
	})
}

func ptr[T any](v T) *T { return &v }
