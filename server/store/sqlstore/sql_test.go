package sqlstore

import (
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
