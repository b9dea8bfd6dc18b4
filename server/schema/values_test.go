package schema

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJSONDepth(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string]int{`1`: 0, `{}`: 1, `{"a":[{}]}`: 3, `{"a":"[[[{"}`: 1, `{"a":"\"[["}`: 1, `[[],[[]]]`: 3} {
		require.Equal(t, want, JSONDepth([]byte(doc)), doc)
	}
}
