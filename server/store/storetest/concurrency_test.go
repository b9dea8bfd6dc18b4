package storetest

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/postgres"
	"prefectgo.dev/prefectgo/server/store/sqlite"
)

var testWaits = store.SlotWaits{Tag: 10, Max: 30}

// slotsOf reads a limit's active and denied slots.
func slotsOf(t *testing.T, s store.Store, name string) (active, denied int) {
	t.Helper()
	l, err := s.ReadConcurrencyLimit(context.Background(), store.LimitByName(name))
	require.NoError(t, err)
	return l.ActiveSlots, l.DeniedSlots
}

func acquire(t *testing.T, s store.Store, slots int, names ...string) store.SlotAcquisitionResult {
	t.Helper()
	res, err := s.AcquireConcurrencySlots(context.Background(), store.SlotAcquisition{Names: names, Slots: slots, Mode: schema.ModeConcurrency, Waits: testWaits})
	require.NoError(t, err)
	return res
}

func acquireLease(t *testing.T, s store.Store, ttl time.Duration, holder *schema.ConcurrencyLeaseHolder, names ...string) store.SlotAcquisitionResult {
	t.Helper()
	res, err := s.AcquireConcurrencySlots(context.Background(), store.SlotAcquisition{Names: names, Slots: 1, Mode: schema.ModeConcurrency,
		Lease: &store.LeaseSpec{TTL: ttl, Holder: holder}, Waits: testWaits})
	require.NoError(t, err)
	return res
}

func TestConcurrencyLimits(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		l := ConcurrencyLimit(t, s, "db", 3)
		require.True(t, l.Active)
		require.Equal(t, 2.0, l.AvgSlotOccupancySeconds)
		ConcurrencyLimit(t, s, "api", 1)
		ConcurrencyLimit(t, s, "tag:etl", 2)

		dup := schema.ConcurrencyLimitV2Create{Name: ptr("db"), Limit: ptr(1)}
		require.NoError(t, dup.Validate())
		_, err := s.CreateConcurrencyLimit(ctx, dup)
		var conflict *schema.ConflictError
		require.ErrorAs(t, err, &conflict)

		byID, err := s.ReadConcurrencyLimit(ctx, store.LimitByID(l.ID))
		require.NoError(t, err)
		require.Equal(t, "db", byID.Name)
		_, err = s.ReadConcurrencyLimit(ctx, store.LimitByName("nope"))
		require.ErrorIs(t, err, schema.ErrNotFound)

		all, err := s.FilterConcurrencyLimits(ctx, store.ConcurrencyLimitQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{"api", "db", "tag:etl"}, limitNames(all))
		page, err := s.FilterConcurrencyLimits(ctx, store.ConcurrencyLimitQuery{Page: schema.Page{Limit: ptr(1), Offset: 1}})
		require.NoError(t, err)
		require.Equal(t, []string{"db"}, limitNames(page))
		tags, err := s.FilterConcurrencyLimits(ctx, store.ConcurrencyLimitQuery{NamePrefix: "tag:"})
		require.NoError(t, err)
		require.Equal(t, []string{"tag:etl"}, limitNames(tags))
		byName, err := s.ReadConcurrencyLimitsByName(ctx, []string{"tag:etl", "db", "missing"})
		require.NoError(t, err)
		require.Equal(t, []string{"db", "tag:etl"}, limitNames(byName))

		require.NoError(t, s.UpdateConcurrencyLimit(ctx, store.LimitByName("db"), schema.ConcurrencyLimitV2Update{Limit: ptr(5), Active: ptr(false)}))
		got, err := s.ReadConcurrencyLimit(ctx, store.LimitByID(l.ID))
		require.NoError(t, err)
		require.Equal(t, 5, got.Limit)
		require.False(t, got.Active)
		require.NoError(t, s.UpdateConcurrencyLimit(ctx, store.LimitByID(l.ID), schema.ConcurrencyLimitV2Update{Name: ptr("database")}))
		require.ErrorAs(t, s.UpdateConcurrencyLimit(ctx, store.LimitByID(l.ID), schema.ConcurrencyLimitV2Update{Name: ptr("api")}), &conflict)
		require.ErrorIs(t, s.UpdateConcurrencyLimit(ctx, store.LimitByName("db"), schema.ConcurrencyLimitV2Update{}), schema.ErrNotFound)

		// The v1 upsert by name.
		up, created, err := s.UpsertConcurrencyLimit(ctx, "tag:etl", 7)
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, 7, up.Limit)
		fresh, created, err := s.UpsertConcurrencyLimit(ctx, "tag:new", 1)
		require.NoError(t, err)
		require.True(t, created)
		require.True(t, fresh.Active)

		require.NoError(t, s.DeleteConcurrencyLimit(ctx, store.LimitByName("database")))
		require.ErrorIs(t, s.DeleteConcurrencyLimit(ctx, store.LimitByID(l.ID)), schema.ErrNotFound)
	})
}

func TestConcurrencySlotsAllOrNothing(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		ConcurrencyLimit(t, s, "a", 2)
		ConcurrencyLimit(t, s, "b", 1)
		ConcurrencyLimit(t, s, "off", 1, func(c *schema.ConcurrencyLimitV2Create) { c.Active = ptr(false) })

		res := acquire(t, s, 1, "a", "b", "missing")
		require.True(t, res.Acquired)
		require.Equal(t, []string{"a", "b"}, limitNames(res.Limits), "names without a limit are skipped")

		res = acquire(t, s, 1, "a", "b")
		require.False(t, res.Acquired, "b is full")
		active, denied := slotsOf(t, s, "a")
		require.Equal(t, 1, active, "nothing is taken from a when b is full")
		require.Equal(t, 1, denied, "the denial is counted")
		_, denied = slotsOf(t, s, "b")
		require.Equal(t, 1, denied)

		require.True(t, acquire(t, s, 1, "a").Acquired)
		require.False(t, acquire(t, s, 1, "a").Acquired)
		active, _ = slotsOf(t, s, "a")
		require.Equal(t, 2, active)

		// Inactive limits are ignored but still reported.
		for range 3 {
			res = acquire(t, s, 1, "off")
			require.True(t, res.Acquired)
			require.Equal(t, []string{"off"}, limitNames(res.Limits))
		}
		active, _ = slotsOf(t, s, "off")
		require.Zero(t, active)
		res = acquire(t, s, 1, "nothing-here")
		require.True(t, res.Acquired)
		require.Empty(t, res.Limits)

		_, err := s.AcquireConcurrencySlots(ctx, store.SlotAcquisition{Names: []string{"b"}, Slots: 2, Mode: schema.ModeConcurrency, Waits: testWaits})
		var over *store.SlotsOverLimitError
		require.ErrorAs(t, err, &over)
		require.Equal(t, "b", over.Name)
		_, err = s.AcquireConcurrencySlots(ctx, store.SlotAcquisition{Names: []string{"a"}, Slots: 1, Mode: schema.ModeRateLimit, Waits: testWaits})
		var noDecay *store.RateLimitWithoutDecayError
		require.ErrorAs(t, err, &noDecay)
		require.Equal(t, []string{"a"}, noDecay.Names)

		// Releasing by name gives slots back and learns the occupancy.
		occupancy := 10.0
		released, err := s.ReleaseConcurrencySlots(ctx, store.SlotRelease{Names: []string{"a", "b", "off"}, Slots: 1, OccupancySeconds: &occupancy, Waits: testWaits})
		require.NoError(t, err)
		require.Equal(t, []string{"a", "b", "off"}, limitNames(released))
		active, _ = slotsOf(t, s, "a")
		require.Equal(t, 1, active)
		active, _ = slotsOf(t, s, "b")
		require.Zero(t, active)
		b, err := s.ReadConcurrencyLimit(ctx, store.LimitByName("b"))
		require.NoError(t, err)
		require.InDelta(t, 2+10.0/2-2.0/2, b.AvgSlotOccupancySeconds, 1e-9, "a moving average over 2 × limit samples")
		_, err = s.ReleaseConcurrencySlots(ctx, store.SlotRelease{Names: []string{"b"}, Slots: 5, Waits: testWaits})
		require.NoError(t, err)
		active, _ = slotsOf(t, s, "b")
		require.Zero(t, active, "never below zero")
	})
}

func TestConcurrencyRateLimitDecay(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		ConcurrencyLimit(t, s, "rate", 1, func(c *schema.ConcurrencyLimitV2Create) { c.SlotDecayPerSecond = 10 })
		rate := func() bool {
			res, err := s.AcquireConcurrencySlots(ctx, store.SlotAcquisition{Names: []string{"rate"}, Slots: 1, Mode: schema.ModeRateLimit, Waits: testWaits})
			require.NoError(t, err)
			return res.Acquired
		}
		require.True(t, rate())
		require.False(t, rate(), "the slot has not decayed yet")
		deadline := time.Now().Add(5 * time.Second)
		for !rate() {
			require.True(t, time.Now().Before(deadline), "ten slots a second decay")
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		active, _ := slotsOf(t, s, "rate")
		require.Zero(t, active, "reads show the count after decay")
	})
}

func TestConcurrencyNoOversubscription(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ConcurrencyLimit(t, s, "pool", 5)
		ConcurrencyLimit(t, s, "wide", 100)
		got := incrementConcurrently(t, []store.Store{s}, 20)
		require.Equal(t, int64(5), got)
		active, _ := slotsOf(t, s, "pool")
		require.Equal(t, 5, active)
		active, _ = slotsOf(t, s, "wide")
		require.Equal(t, 5, active, "all or nothing: only the winners took a slot of the wide limit")
	})
}

// TestConcurrencyReplicas runs the concurrent incrementers through two
// stores on one database, as two API replicas would.
func TestConcurrencyReplicas(t *testing.T) {
	t.Parallel()
	openTwice := map[string]func(t *testing.T) (store.Store, store.Store){
		"sqlite": func(t *testing.T) (store.Store, store.Store) {
			path := filepath.Join(t.TempDir(), "prefect.db")
			open := func(migrate bool) store.Store {
				s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path, Readers: 4, Migrate: migrate})
				require.NoError(t, err)
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			return open(true), open(false)
		},
		"postgres": func(t *testing.T) (store.Store, store.Store) {
			url := NewPostgresDatabase(t)
			open := func(migrate bool) store.Store {
				s, err := postgres.Open(context.Background(), postgres.Options{URL: url, PoolSize: 5, MaxOverflow: 5, Migrate: migrate})
				require.NoError(t, err)
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			return open(true), open(false)
		},
	}
	for name, both := range openTwice {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			one, two := both(t)
			ConcurrencyLimit(t, one, "pool", 5)
			ConcurrencyLimit(t, one, "wide", 100)
			require.Equal(t, int64(5), incrementConcurrently(t, []store.Store{one, two}, 20))
			active, _ := slotsOf(t, two, "pool")
			require.Equal(t, 5, active)
			active, _ = slotsOf(t, one, "wide")
			require.Equal(t, 5, active)

			// Expired leases released at once by their holders and by the
			// repossessors of both replicas give their slots back once.
			ConcurrencyLimit(t, one, "shared", 20)
			var short []uuid.UUID
			for range 10 {
				short = append(short, acquireLease(t, one, 10*time.Millisecond, nil, "shared").LeaseID)
			}
			for range 5 {
				require.True(t, acquireLease(t, two, time.Hour, nil, "shared").Acquired)
			}
			time.Sleep(50 * time.Millisecond)
			var wg sync.WaitGroup
			errs := make(chan error, 32)
			for i, s := range []store.Store{one, two, one, two} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.ReclaimExpiredConcurrencyLeases(context.Background(), 3+i, testWaits)
					errs <- err
				}()
			}
			for i, id := range short {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := []store.Store{one, two}[i%2].ReleaseConcurrencyLease(context.Background(), id, testWaits)
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			active, _ = slotsOf(t, two, "shared")
			require.Equal(t, 5, active, "each expired lease gave its slot back exactly once")
		})
	}
}

// incrementConcurrently starts n incrementers at once, spread over stores,
// each asking for a slot of "pool" and "wide" under a lease, and returns how
// many got one.
func incrementConcurrently(t *testing.T, stores []store.Store, n int) int64 {
	t.Helper()
	var won atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		names := []string{"pool", "wide"}
		if i%2 == 1 {
			names = []string{"wide", "pool"} // locks are taken in id order whatever the request's
		}
		wg.Add(1)
		go func(s store.Store) {
			defer wg.Done()
			<-start
			res, err := s.AcquireConcurrencySlots(context.Background(), store.SlotAcquisition{Names: names, Slots: 1,
				Mode: schema.ModeConcurrency, Lease: &store.LeaseSpec{TTL: time.Minute}, Waits: testWaits})
			if err != nil {
				errs <- err
				return
			}
			if res.Acquired {
				won.Add(1)
			}
		}(stores[i%len(stores)])
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return won.Load()
}

func TestConcurrencyLeases(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		a := ConcurrencyLimit(t, s, "a", 2)
		b := ConcurrencyLimit(t, s, "b", 2)
		run := uuid.New()
		holder := &schema.ConcurrencyLeaseHolder{Type: "task_run", ID: run}

		res := acquireLease(t, s, time.Hour, holder, "a", "b")
		require.True(t, res.Acquired)
		lease, err := s.ReadConcurrencyLease(ctx, res.LeaseID)
		require.NoError(t, err)
		require.ElementsMatch(t, []uuid.UUID{a.ID, b.ID}, lease.LimitIDs)
		require.Equal(t, holder, lease.Holder)
		require.Equal(t, 1, lease.Slots)
		require.WithinDuration(t, time.Now().Add(time.Hour), lease.Expiration, time.Minute)

		holders, err := s.ConcurrencyLeaseHolders(ctx, []uuid.UUID{a.ID})
		require.NoError(t, err)
		require.Equal(t, []schema.ConcurrencyLeaseHolder{*holder}, holders[a.ID])

		require.NoError(t, s.RenewConcurrencyLease(ctx, res.LeaseID, 2*time.Hour))
		lease, err = s.ReadConcurrencyLease(ctx, res.LeaseID)
		require.NoError(t, err)
		require.WithinDuration(t, time.Now().Add(2*time.Hour), lease.Expiration, time.Minute)

		released, err := s.ReleaseConcurrencyLease(ctx, res.LeaseID, testWaits)
		require.NoError(t, err)
		require.True(t, released)
		active, _ := slotsOf(t, s, "a")
		require.Zero(t, active)
		active, _ = slotsOf(t, s, "b")
		require.Zero(t, active)
		released, err = s.ReleaseConcurrencyLease(ctx, res.LeaseID, testWaits)
		require.NoError(t, err)
		require.False(t, released, "a lease is released once")
		require.ErrorIs(t, s.RenewConcurrencyLease(ctx, res.LeaseID, time.Hour), schema.ErrNotFound, "a released lease is gone")
		require.ErrorIs(t, s.RenewConcurrencyLease(ctx, uuid.New(), time.Hour), schema.ErrNotFound)

		// No limit named: no lease is stored.
		res = acquireLease(t, s, time.Hour, holder, "missing")
		require.True(t, res.Acquired)
		require.NotEqual(t, uuid.Nil, res.LeaseID)
		_, err = s.ReadConcurrencyLease(ctx, res.LeaseID)
		require.ErrorIs(t, err, schema.ErrNotFound)
	})
}

func TestConcurrencyLeaseExpiry(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		ConcurrencyLimit(t, s, "a", 2)
		short := acquireLease(t, s, 10*time.Millisecond, nil, "a")
		long := acquireLease(t, s, time.Hour, nil, "a")
		require.True(t, short.Acquired)
		require.True(t, long.Acquired)
		require.False(t, acquireLease(t, s, time.Hour, nil, "a").Acquired, "both slots are held")
		time.Sleep(50 * time.Millisecond)

		require.ErrorIs(t, s.RenewConcurrencyLease(ctx, short.LeaseID, time.Hour), schema.ErrNotFound, "an expired lease cannot be renewed")
		_, err := s.ReadConcurrencyLease(ctx, short.LeaseID)
		require.NoError(t, err, "until reclaimed, the expired lease still holds its slot")
		active, _ := slotsOf(t, s, "a")
		require.Equal(t, 2, active)

		n, err := s.ReclaimExpiredConcurrencyLeases(ctx, 100, testWaits)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		active, _ = slotsOf(t, s, "a")
		require.Equal(t, 1, active, "the expired lease's slot is back")
		_, err = s.ReadConcurrencyLease(ctx, short.LeaseID)
		require.ErrorIs(t, err, schema.ErrNotFound)
		_, err = s.ReadConcurrencyLease(ctx, long.LeaseID)
		require.NoError(t, err, "an unexpired lease is left alone")
		n, err = s.ReclaimExpiredConcurrencyLeases(ctx, 100, testWaits)
		require.NoError(t, err)
		require.Zero(t, n)
		released, err := s.ReleaseConcurrencyLease(ctx, short.LeaseID, testWaits)
		require.NoError(t, err)
		require.False(t, released, "a reclaimed lease is not released twice")
		active, _ = slotsOf(t, s, "a")
		require.Equal(t, 1, active)
	})
}

func TestConcurrencyLeaseHoldersAndReset(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		etl := ConcurrencyLimit(t, s, "tag:etl", 3)
		db := ConcurrencyLimit(t, s, "tag:db", 3)
		first, second, third := uuid.New(), uuid.New(), uuid.New()
		both := acquireLease(t, s, time.Hour, &schema.ConcurrencyLeaseHolder{Type: "task_run", ID: first}, "tag:etl", "tag:db")
		acquireLease(t, s, time.Hour, &schema.ConcurrencyLeaseHolder{Type: "task_run", ID: second}, "tag:etl")
		acquireLease(t, s, time.Hour, &schema.ConcurrencyLeaseHolder{Type: "task_run", ID: third}, "tag:db")

		holders, err := s.ConcurrencyLeaseHolders(ctx, []uuid.UUID{etl.ID, db.ID})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{first, second}, holderIDs(holders[etl.ID]))
		require.Equal(t, []uuid.UUID{first, third}, holderIDs(holders[db.ID]))

		// The v1 decrement: the holder's leases on these limits.
		n, err := s.ReleaseConcurrencyLeasesOfHolder(ctx, []uuid.UUID{etl.ID}, second, testWaits)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		active, _ := slotsOf(t, s, "tag:etl")
		require.Equal(t, 1, active)

		// Reset etl with one override: first's lease keeps its db slot.
		override := uuid.New()
		require.NoError(t, s.ResetConcurrencyLimit(ctx, etl.ID, []schema.ConcurrencyLeaseHolder{{Type: "task_run", ID: override}}, time.Hour))
		active, _ = slotsOf(t, s, "tag:etl")
		require.Equal(t, 1, active)
		holders, err = s.ConcurrencyLeaseHolders(ctx, []uuid.UUID{etl.ID, db.ID})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{override}, holderIDs(holders[etl.ID]))
		require.Equal(t, []uuid.UUID{first, third}, holderIDs(holders[db.ID]))
		lease, err := s.ReadConcurrencyLease(ctx, both.LeaseID)
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{db.ID}, lease.LimitIDs)
		require.ErrorIs(t, s.ResetConcurrencyLimit(ctx, uuid.New(), nil, time.Hour), schema.ErrNotFound)

		// Deleting a limit leaves the lease holding its other limit's slot.
		require.NoError(t, s.DeleteConcurrencyLimit(ctx, store.LimitByID(db.ID)))
		lease, err = s.ReadConcurrencyLease(ctx, both.LeaseID)
		require.NoError(t, err)
		require.Empty(t, lease.LimitIDs)
		released, err := s.ReleaseConcurrencyLease(ctx, both.LeaseID, testWaits)
		require.NoError(t, err)
		require.True(t, released)
	})
}

func limitNames(ls []schema.ConcurrencyLimitV2) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Name
	}
	return out
}

func holderIDs(hs []schema.ConcurrencyLeaseHolder) []uuid.UUID {
	out := make([]uuid.UUID, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}
