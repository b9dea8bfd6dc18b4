package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

func TestVariables(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		create := func(name, value string, tags ...string) schema.Variable {
			t.Helper()
			in := schema.VariableCreate{Name: &name, Value: json.RawMessage(value), Tags: tags}
			require.NoError(t, in.Validate())
			v, err := s.CreateVariable(ctx, in)
			require.NoError(t, err)
			return v
		}

		cfg := create("config", `{"retries": 3, "hosts": ["a", "b"], "big": 12345678901234567890}`, "prod", "db")
		require.Equal(t, []string{"prod", "db"}, cfg.Tags)
		create("answer", `42`, "prod")
		create("nothing", `null`)

		dup := schema.VariableCreate{Name: ptr("config"), Value: json.RawMessage(`1`)}
		require.NoError(t, dup.Validate())
		_, err := s.CreateVariable(ctx, dup)
		var conflict *schema.ConflictError
		require.ErrorAs(t, err, &conflict, "names are unique")

		got, err := s.ReadVariableByName(ctx, "config")
		require.NoError(t, err)
		require.Equal(t, cfg.ID, got.ID)
		require.JSONEq(t, `{"retries": 3, "hosts": ["a", "b"], "big": 12345678901234567890}`, string(got.Value),
			"any JSON value comes back as it went in, big integers included")
		byID, err := s.ReadVariable(ctx, cfg.ID)
		require.NoError(t, err)
		require.Equal(t, "config", byID.Name)
		none, err := s.ReadVariableByName(ctx, "nothing")
		require.NoError(t, err)
		require.JSONEq(t, `null`, string(none.Value))
		_, err = s.ReadVariableByName(ctx, "missing")
		require.ErrorIs(t, err, schema.ErrNotFound)

		all, err := s.FilterVariables(ctx, schema.VariableQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{"answer", "config", "nothing"}, variableNames(all), "sorted by name by default")
		desc, err := s.FilterVariables(ctx, schema.VariableQuery{Sort: "NAME_DESC", Page: schema.Page{Limit: ptr(2)}})
		require.NoError(t, err)
		require.Equal(t, []string{"nothing", "config"}, variableNames(desc))
		_, err = s.FilterVariables(ctx, schema.VariableQuery{Sort: "SIDEWAYS"})
		var invalid *schema.ValidationError
		require.ErrorAs(t, err, &invalid)

		like, err := s.FilterVariables(ctx, schema.VariableQuery{Variables: &schema.VariableFilter{Name: &schema.TextFilter{Like: ptr("ONF")}}})
		require.NoError(t, err)
		require.Equal(t, []string{"config"}, variableNames(like))
		anyOf, err := s.FilterVariables(ctx, schema.VariableQuery{Variables: &schema.VariableFilter{Name: &schema.TextFilter{Any: []string{"answer", "nothing"}}}})
		require.NoError(t, err)
		require.Equal(t, []string{"answer", "nothing"}, variableNames(anyOf))
		tagged, err := s.FilterVariables(ctx, schema.VariableQuery{Variables: &schema.VariableFilter{Tags: &schema.TagsFilter{All: []string{"prod", "db"}}}})
		require.NoError(t, err)
		require.Equal(t, []string{"config"}, variableNames(tagged))
		untagged, err := s.FilterVariables(ctx, schema.VariableQuery{Variables: &schema.VariableFilter{Tags: &schema.TagsFilter{IsNull: ptr(true)}}})
		require.NoError(t, err)
		require.Equal(t, []string{"nothing"}, variableNames(untagged))
		n, err := s.CountVariables(ctx, schema.VariableQuery{Variables: &schema.VariableFilter{Tags: &schema.TagsFilter{All: []string{"prod"}}}})
		require.NoError(t, err)
		require.Equal(t, 2, n)

		// Updates change only what they set; a null value is a value.
		require.NoError(t, s.UpdateVariable(ctx, cfg.ID, schema.VariableUpdate{Value: json.RawMessage(`null`)}))
		got, err = s.ReadVariable(ctx, cfg.ID)
		require.NoError(t, err)
		require.JSONEq(t, `null`, string(got.Value))
		require.Equal(t, []string{"prod", "db"}, got.Tags)
		require.False(t, got.Updated.Before(cfg.Updated))
		require.NoError(t, s.UpdateVariableByName(ctx, "config", schema.VariableUpdate{Name: ptr("settings"), Tags: &[]string{}}))
		got, err = s.ReadVariableByName(ctx, "settings")
		require.NoError(t, err)
		require.Equal(t, cfg.ID, got.ID)
		require.Equal(t, []string{}, got.Tags)
		err = s.UpdateVariableByName(ctx, "settings", schema.VariableUpdate{Name: ptr("answer")})
		require.ErrorAs(t, err, &conflict, "renaming onto a taken name")
		require.ErrorIs(t, s.UpdateVariable(ctx, uuid.New(), schema.VariableUpdate{Value: json.RawMessage(`1`)}), schema.ErrNotFound)
		require.ErrorIs(t, s.UpdateVariableByName(ctx, "missing", schema.VariableUpdate{}), schema.ErrNotFound)

		require.NoError(t, s.DeleteVariableByName(ctx, "settings"))
		require.ErrorIs(t, s.DeleteVariableByName(ctx, "settings"), schema.ErrNotFound)
		answer, err := s.ReadVariableByName(ctx, "answer")
		require.NoError(t, err)
		require.NoError(t, s.DeleteVariable(ctx, answer.ID))
		require.ErrorIs(t, s.DeleteVariable(ctx, answer.ID), schema.ErrNotFound)
		n, err = s.CountVariables(ctx, schema.VariableQuery{})
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}

func variableNames(vs []schema.Variable) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name
	}
	return out
}
