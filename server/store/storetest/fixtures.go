package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// The fixture builders below create one object directly through the store,
// fail the test on any error and return what was stored. They are the one
// copy for this suite and for the tests of the packages above the store.

// Flow creates (or finds) the flow called name, with no tags and no labels.
func Flow(tb testing.TB, st store.Store, name string) schema.Flow {
	tb.Helper()
	f, _, err := st.UpsertFlow(context.Background(), schema.FlowCreate{Name: name, Tags: []string{}, Labels: json.RawMessage(`{}`)})
	require.NoError(tb, err)
	return f
}

// Deployment creates (or updates) a deployment from body as the API decodes
// it, so only the keys in body count as sent.
func Deployment(tb testing.TB, st store.Store, body map[string]any) schema.Deployment {
	tb.Helper()
	b, err := json.Marshal(body)
	require.NoError(tb, err)
	var d schema.DeploymentCreate
	require.NoError(tb, json.Unmarshal(b, &d))
	require.NoError(tb, d.Validate())
	dep, _, err := st.UpsertDeployment(context.Background(), d)
	require.NoError(tb, err)
	return dep
}
