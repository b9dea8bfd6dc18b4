package services

import (
	"context"

	"prefectgo.dev/prefectgo/server/store"
)

// Repossessor gives back the slots of concurrency leases that expired
// because their holder stopped renewing them (a crashed task, a lost
// worker). Every replica may run it: a lease is released by exactly one
// transaction, and one renewed meanwhile is left alone.
type Repossessor struct {
	Store LeaseReclaimer
	// Waits are the slot-wait caps, which set how denied slots decay.
	Waits store.SlotWaits
	// BatchSize is the number of expired leases looked up at a time.
	BatchSize int
}

// LeaseReclaimer is the part of the store the repossessor needs.
type LeaseReclaimer interface {
	ReclaimExpiredConcurrencyLeases(ctx context.Context, max int, waits store.SlotWaits) (int, error)
}

// compile-time check that the store provides it.
var _ LeaseReclaimer = store.Store(nil)

// RunOnce releases every lease expired by now and reports how many it released.
func (r Repossessor) RunOnce(ctx context.Context) (int, error) {
	batch := r.BatchSize
	if batch <= 0 {
		batch = 100
	}
	total := 0
	for {
		n, err := r.Store.ReclaimExpiredConcurrencyLeases(ctx, batch, r.Waits)
		total += n
		if err != nil || n < batch {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
