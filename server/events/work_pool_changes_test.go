package events

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// A channel's watch keeps the latest change of its pool: before it knows
// its pool it keeps any, narrowing drops another pool's, a deletion is not
// overtaken by a later update, and a closed watch hears nothing.
func TestPoolWatch(t *testing.T) {
	h := NewWorkPoolChanges()
	mine, other := uuid.New(), uuid.New()
	w := h.watch()

	h.PoolUpdated(t.Context(), other)
	w.narrow(mine)
	require.Empty(t, w.changes(), "another pool's change is dropped on narrowing")

	h.PoolUpdated(t.Context(), other)
	require.Empty(t, w.changes())
	h.PoolUpdated(t.Context(), mine)
	h.PoolUpdated(t.Context(), mine)
	require.Equal(t, WorkPoolChange{WorkPoolID: mine, Reason: snapshotWorkPoolUpdated}, <-w.changes())
	require.Empty(t, w.changes(), "changes coalesce into one")

	h.PoolDeleted(t.Context(), mine)
	h.PoolUpdated(t.Context(), mine)
	require.Equal(t, WorkPoolChange{WorkPoolID: mine, Reason: snapshotWorkPoolDeleted, Deleted: true}, <-w.changes())

	// What the relay brings is delivered, and the relay hears what is published here.
	var relayed []WorkPoolChange
	h.SetRelay(func(_ context.Context, c WorkPoolChange) { relayed = append(relayed, c) })
	h.Deliver(WorkPoolChange{WorkPoolID: mine, Reason: snapshotWorkPoolUpdated})
	require.Len(t, w.changes(), 1)
	require.Empty(t, relayed, "a delivered change is not relayed back")
	<-w.changes()
	h.PoolUpdated(t.Context(), other)
	require.Equal(t, []WorkPoolChange{{WorkPoolID: other, Reason: snapshotWorkPoolUpdated}}, relayed)

	w.close()
	h.PoolUpdated(t.Context(), mine)
	require.Empty(t, w.changes())
}
