package events

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// Events relayed from other replicas go to Subscribe's subscriptions only;
// SubscribeLocal's (the persister's, the recorder's) see just this process's.
func TestBrokerLocalOnlySubscriptions(t *testing.T) {
	b := NewBroker()
	all := b.Subscribe("all", 10)
	defer all.Close()
	local := b.SubscribeLocal("local", 10)
	defer local.Close()
	evs := testEvents(2)
	require.NoError(t, b.Publish(context.Background(), evs[0]))
	require.NoError(t, b.PublishRemote(context.Background(), evs[1]))
	require.Equal(t, evs[0].ID, (<-all.Events()).ID)
	require.Equal(t, evs[1].ID, (<-all.Events()).ID)
	require.Equal(t, evs[0].ID, (<-local.Events()).ID)
	require.Empty(t, local.Events())
}

// The persister and the recorder subscribe local-only when they can.
func TestConsumersSubscribeLocalOnly(t *testing.T) {
	b := NewBroker()
	p := NewPersister(b, &recordingStore{}, PersisterConfig{}, nil)
	require.NoError(t, p.Start(context.Background()))
	defer p.Stop()
	b.mu.RLock()
	defer b.mu.RUnlock()
	require.Len(t, b.subs, 1)
	for s := range b.subs {
		require.True(t, s.localOnly)
	}
}
