package schema

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJSONDepth(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string]int{`1`: 0, `{}`: 1, `{"a":[{}]}`: 3, `{"a":"[[[{"}`: 1, `{"a":"\"[["}`: 1, `[[],[[]]]`: 3} {
		require.Equal(t, want, JSONDepth([]byte(doc)), doc)
	}
}

func TestMergeObjects(t *testing.T) {
	got := MergeObjects(json.RawMessage(`{"a":1,"b":{"x":1}}`), json.RawMessage(`null`), json.RawMessage(`[1]`),
		LabelsOf("c", "3"), json.RawMessage(`{"b":{"y":2}}`))
	if string(got) != `{"a":1,"b":{"y":2},"c":"3"}` {
		t.Fatalf("merged: %s", got)
	}
	if got := MergeObjects(); string(got) != `{}` {
		t.Fatalf("merge of nothing: %s", got)
	}
}
