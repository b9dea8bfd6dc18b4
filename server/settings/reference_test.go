package settings_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
)

// The checked-in reference is generated from the table; `make docs` renews it.
func TestReferenceDocIsCurrent(t *testing.T) {
	t.Parallel()
	got, err := os.ReadFile("../../docs/settings.md")
	require.NoError(t, err)
	require.Equal(t, settings.MarkdownReference(), string(got), "docs/settings.md is stale: run `make docs`")
}
