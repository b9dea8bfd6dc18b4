package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

func TestSavedSearches(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		upsert := func(name string, filters ...schema.SavedSearchFilter) (schema.SavedSearch, bool) {
			t.Helper()
			in := schema.SavedSearchCreate{Name: &name, Filters: filters}
			require.NoError(t, in.Validate())
			out, created, err := s.UpsertSavedSearch(ctx, in)
			require.NoError(t, err)
			return out, created
		}
		failed := schema.SavedSearchFilter{Object: ptr("flow_run"), Property: ptr("state"), Type: ptr("string"),
			Operation: ptr("equals"), Value: json.RawMessage(`["Failed", "Crashed"]`)}

		first, created := upsert("failures", failed)
		require.True(t, created)
		require.Len(t, first.Filters, 1)
		got, err := s.ReadSavedSearch(ctx, first.ID)
		require.NoError(t, err)
		require.Equal(t, "failures", got.Name)
		require.Equal(t, "flow_run", *got.Filters[0].Object)
		require.JSONEq(t, `["Failed", "Crashed"]`, string(got.Filters[0].Value))

		// The same name replaces the filters and keeps the id and times.
		again, created := upsert("failures")
		require.False(t, created)
		require.Equal(t, first.ID, again.ID)
		require.True(t, first.Created.Equal(again.Created))
		require.True(t, first.Updated.Equal(again.Updated))
		require.Equal(t, []schema.SavedSearchFilter{}, again.Filters)

		upsert("b-search")
		upsert("a-search")
		all, err := s.FilterSavedSearches(ctx, schema.SavedSearchQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{"a-search", "b-search", "failures"}, savedSearchNames(all), "by name")
		page, err := s.FilterSavedSearches(ctx, schema.SavedSearchQuery{Page: schema.Page{Limit: ptr(1), Offset: 1}})
		require.NoError(t, err)
		require.Equal(t, []string{"b-search"}, savedSearchNames(page))

		require.NoError(t, s.DeleteSavedSearch(ctx, first.ID))
		_, err = s.ReadSavedSearch(ctx, first.ID)
		require.ErrorIs(t, err, schema.ErrNotFound)
		require.ErrorIs(t, s.DeleteSavedSearch(ctx, first.ID), schema.ErrNotFound)
	})
}

func savedSearchNames(ss []schema.SavedSearch) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}
