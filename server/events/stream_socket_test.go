package events

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// An outbox holds what its client has not been sent, up to its limit in
// cost: what is taken counts until sent, one item over the limit fits an
// empty outbox, and the first item that does not fit ends it for good.
func TestOutboxBoundsWhatTheClientIsBehind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := NewOutbox[string](10, func(s string) int64 { return int64(len(s)) })

	require.True(t, o.Offer("aaaaaaaaaaaa"), "one item costlier than the limit fits an empty outbox")
	items, overflow, err := o.take(ctx)
	require.NoError(t, err)
	require.False(t, overflow)
	require.Equal(t, []string{"aaaaaaaaaaaa"}, items)
	require.False(t, o.Offer("b"), "taken is not sent: it still counts")
	items, overflow, err = o.take(ctx)
	require.NoError(t, err)
	require.True(t, overflow)
	require.Empty(t, items)
	require.False(t, o.Offer("c"), "an overflowed outbox stays so")

	o = NewOutbox[string](10, func(s string) int64 { return int64(len(s)) })
	require.True(t, o.Offer("12345"))
	require.True(t, o.Offer("67890"))
	items, _, _ = o.take(ctx)
	require.Equal(t, []string{"12345", "67890"}, items)
	o.sent(items[0])
	require.True(t, o.Offer("abcde"), "what was sent no longer counts")
	require.False(t, o.Offer("f"))

	// A count outbox (nil cost), as /events/out's.
	n := NewOutbox[int](2, nil)
	require.True(t, n.Offer(1))
	require.True(t, n.Offer(2))
	require.False(t, n.Offer(3))

	// take waits for an item or the end of its context.
	w := NewOutbox[int](2, nil)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = w.take(cctx)
	require.ErrorIs(t, err, context.Canceled)
	got := make(chan []int)
	go func() {
		items, _, _ := w.take(ctx)
		got <- items
	}()
	require.True(t, w.Offer(7))
	require.Equal(t, []int{7}, <-got)
}
