package services_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// A pass gives back the slots of every expired lease, batch after batch,
// and leaves the unexpired ones holding theirs.
func TestRepossessorReclaimsExpiredLeases(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		name := "pool"
		storetest.ConcurrencyLimit(t, st, name, 50)
		waits := store.SlotWaits{Tag: 10, Max: 30}
		take := func(ttl time.Duration) {
			res, err := st.AcquireConcurrencySlots(ctx, store.SlotAcquisition{Names: []string{name}, Slots: 1,
				Mode: schema.ModeConcurrency, Lease: &store.LeaseSpec{TTL: ttl}, Waits: waits})
			require.NoError(t, err)
			require.True(t, res.Acquired)
		}
		for range 25 {
			take(time.Millisecond)
		}
		for range 3 {
			take(time.Hour)
		}
		time.Sleep(20 * time.Millisecond)

		r := services.Repossessor{Store: st, Waits: waits, BatchSize: 10}
		n, err := r.RunOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 25, n)
		l, err := st.ReadConcurrencyLimit(ctx, store.LimitByName(name))
		require.NoError(t, err)
		require.Equal(t, 3, l.ActiveSlots)
		n, err = r.RunOnce(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}
