package sqlstore

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// Multi-row inserts come in runs of a power-of-two length, longest first, so
// a statement has a handful of texts whatever the batch sizes.
func TestRowChunks(t *testing.T) {
	t.Parallel()
	for n, want := range map[int][]int{
		0:    nil,
		1:    {1},
		7:    {4, 2, 1},
		256:  {256},
		300:  {256, 32, 8, 4},
		1000: {256, 256, 256, 128, 64, 32, 8},
	} {
		rows := make([]int, n)
		for i := range rows {
			rows[i] = i
		}
		var lens, joined []int
		for chunk := range rowChunks(rows) {
			lens = append(lens, len(chunk))
			joined = append(joined, chunk...)
		}
		require.Equal(t, want, lens, "%d rows", n)
		require.True(t, slices.Equal(rows, joined), "%d rows, in order", n)
	}
}

func TestJSONArray(t *testing.T) {
	for _, items := range [][]json.RawMessage{nil, {json.RawMessage(`{"a":"b"}`)}, {json.RawMessage(`{"a":"b"}`), json.RawMessage(`{}`), json.RawMessage(`"c"`)}} {
		want, err := json.Marshal(nonNil(items))
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(jsonArray(items)))
		require.True(t, json.Valid(jsonArray(items)))
	}
}
