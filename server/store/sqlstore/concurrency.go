package sqlstore

import (
	"context"
	"errors"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// Concurrency limits and leases. Every transaction that changes slot counts
// first locks the limits it touches, in id order (FOR UPDATE on
// PostgreSQL; SQLite has one writer), and only then touches leases, so two
// transactions never wait on each other in a circle. Decay is computed in
// Go from the locked rows; the increment itself is a conditional UPDATE, so
// even a transaction that saw stale counts could not take a slot that is
// not free.
//
// Decay is Prefect's: a rate limit loses slot_decay_per_second active slots
// per second, and denied slots decay at that rate too or, on a concurrency
// limit, at one per average slot occupancy (clamped to [0.1 s, the wait
// cap]). Unlike Prefect, which measures decay from the row's updated time
// and so rounds away the fraction of a slot at every write (a busy limit
// whose denials come faster than its decay never decays), each count keeps
// the instant up to which its decay has been applied.

const limitColumns = `concurrency_limit_v2.id, concurrency_limit_v2.created, concurrency_limit_v2.updated,
	concurrency_limit_v2.active, concurrency_limit_v2.name, concurrency_limit_v2."limit",
	concurrency_limit_v2.active_slots, concurrency_limit_v2.denied_slots,
	concurrency_limit_v2.slot_decay_per_second, concurrency_limit_v2.avg_slot_occupancy_seconds,
	concurrency_limit_v2.active_slots_as_of, concurrency_limit_v2.denied_slots_as_of`

// limitRow is a limit as stored: its counts before decay, and the instants
// their decay has been applied up to.
type limitRow struct {
	schema.ConcurrencyLimitV2
	activeAsOf time.Time
	deniedAsOf time.Time
}

func scanLimit(row scanner) (limitRow, error) {
	var l limitRow
	err := row.Scan(&l.ID, ts(&l.Created), ts(&l.Updated), &l.Active, &l.Name, &l.Limit,
		&l.ActiveSlots, &l.DeniedSlots, &l.SlotDecayPerSecond, &l.AvgSlotOccupancySeconds,
		ts(&l.activeAsOf), ts(&l.deniedAsOf))
	return l, classify(err)
}

// minimumOccupancySeconds keeps the average occupancy away from zero.
const minimumOccupancySeconds = 0.1

// decayedActive returns the active slots at now and the instant decay is
// then applied up to.
func (l limitRow) decayedActive(now time.Time) (int, time.Time) {
	return decay(l.ActiveSlots, l.SlotDecayPerSecond, l.activeAsOf, now)
}

// decayedDenied returns the denied slots at now and the instant decay is
// then applied up to.
func (l limitRow) decayedDenied(now time.Time, waits store.SlotWaits) (int, time.Time) {
	rate := l.SlotDecayPerSecond
	if rate <= 0 {
		rate = 1 / math.Max(minimumOccupancySeconds, math.Min(l.AvgSlotOccupancySeconds, waits.For(l.Name)))
	}
	return decay(l.DeniedSlots, rate, l.deniedAsOf, now)
}

// at is the limit as the API shows it at now: active slots after decay.
func (l limitRow) at(now time.Time) schema.ConcurrencyLimitV2 {
	out := l.ConcurrencyLimitV2
	out.ActiveSlots, _ = l.decayedActive(now)
	return out
}

// decay takes perSecond slots a second off slots since asOf, whole slots
// only, and moves asOf on by the time those whole slots took, so the
// fraction carries over. Nothing to decay (or a clock behind asOf) leaves
// the count as it is.
func decay(slots int, perSecond float64, asOf, now time.Time) (int, time.Time) {
	if slots <= 0 || perSecond <= 0 || !now.After(asOf) {
		if slots <= 0 || perSecond <= 0 {
			return max(slots, 0), now
		}
		return slots, asOf
	}
	lost := math.Floor(perSecond * now.Sub(asOf).Seconds())
	if lost >= float64(slots) {
		return 0, now
	}
	return slots - int(lost), asOf.Add(time.Duration(lost / perSecond * float64(time.Second))).Truncate(time.Microsecond)
}

// averageOccupancy folds one release of slots held for occupancy seconds
// into the average occupancy per slot: a moving average over the last
// 2 × limit samples, as Prefect keeps it.
func (l limitRow) averageOccupancy(slots int, occupancy float64) float64 {
	if occupancy <= 0 || slots <= 0 || l.Limit <= 0 {
		return l.AvgSlotOccupancySeconds
	}
	perSlot := math.Max(occupancy/float64(slots), minimumOccupancySeconds)
	samples := float64(l.Limit) * 2
	return l.AvgSlotOccupancySeconds + perSlot/samples - l.AvgSlotOccupancySeconds/samples
}

func scanLimits(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}, err error) ([]limitRow, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []limitRow
	for rows.Next() {
		l, err := scanLimit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, classify(rows.Err())
}

func refWhere(ref store.LimitRef) (string, any) {
	if ref.ID != uuid.Nil {
		return `concurrency_limit_v2.id = ?`, ref.ID
	}
	return `concurrency_limit_v2.name = ?`, ref.Name
}

// CreateConcurrencyLimit inserts a limit.
func (s *Store) CreateConcurrencyLimit(ctx context.Context, in schema.ConcurrencyLimitV2Create) (schema.ConcurrencyLimitV2, error) {
	now := s.clock()
	l := schema.ConcurrencyLimitV2{ID: uuid.Must(uuid.NewV7()), Created: now, Updated: now, Active: *in.Active, Name: *in.Name,
		Limit: *in.Limit, ActiveSlots: in.ActiveSlots, DeniedSlots: in.DeniedSlots, SlotDecayPerSecond: in.SlotDecayPerSecond,
		AvgSlotOccupancySeconds: 2}
	err := s.tx(ctx, func(ctx context.Context, c conn) error { return insertLimit(ctx, c, l) })
	return l, err
}

func insertLimit(ctx context.Context, c conn, l schema.ConcurrencyLimitV2) error {
	_, err := c.exec(ctx, `INSERT INTO concurrency_limit_v2 (id, created, updated, active, name, "limit", active_slots,
		denied_slots, slot_decay_per_second, avg_slot_occupancy_seconds, active_slots_as_of, denied_slots_as_of)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, l.Created, l.Updated, l.Active, l.Name, l.Limit, l.ActiveSlots, l.DeniedSlots, l.SlotDecayPerSecond,
		l.AvgSlotOccupancySeconds, l.Created, l.Created)
	return err
}

// UpsertConcurrencyLimit sets the limit of the limit named name, creating it.
func (s *Store) UpsertConcurrencyLimit(ctx context.Context, name string, limit int) (schema.ConcurrencyLimitV2, bool, error) {
	var out schema.ConcurrencyLimitV2
	created := false
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		now := s.clock()
		res, err := c.exec(ctx, `INSERT INTO concurrency_limit_v2 (id, created, updated, active, name, "limit", active_slots,
			denied_slots, slot_decay_per_second, avg_slot_occupancy_seconds, active_slots_as_of, denied_slots_as_of)
			VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 2, ?, ?)
			ON CONFLICT (name) DO NOTHING`, uuid.Must(uuid.NewV7()), now, now, true, name, limit, now, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			created = true
		} else if _, err := c.exec(ctx, `UPDATE concurrency_limit_v2 SET "limit" = ?, updated = ? WHERE name = ?`, limit, now, name); err != nil {
			return err
		}
		row, err := scanLimit(c.queryRow(ctx, `SELECT `+limitColumns+` FROM concurrency_limit_v2 WHERE name = ?`, name))
		out = row.at(now)
		return err
	})
	return out, created, err
}

// ReadConcurrencyLimit returns one limit with its active slots after decay.
func (s *Store) ReadConcurrencyLimit(ctx context.Context, ref store.LimitRef) (schema.ConcurrencyLimitV2, error) {
	cond, arg := refWhere(ref)
	var l limitRow
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		l, err = scanLimit(c.queryRow(ctx, `SELECT `+limitColumns+` FROM concurrency_limit_v2 WHERE `+cond, arg))
		return err
	})
	return l.at(s.clock()), err
}

// ReadConcurrencyLimitsByName returns the named limits that exist, by name.
func (s *Store) ReadConcurrencyLimitsByName(ctx context.Context, names []string) ([]schema.ConcurrencyLimitV2, error) {
	if len(names) == 0 {
		return []schema.ConcurrencyLimitV2{}, nil
	}
	var rows []limitRow
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		rows, err = scanLimits(c.query(ctx, `SELECT `+limitColumns+` FROM concurrency_limit_v2 WHERE `+
			s.d.InList("concurrency_limit_v2.name", false, false)+` ORDER BY name`, s.d.ListArg(names)))
		return err
	})
	return s.shown(rows), err
}

// FilterConcurrencyLimits returns limits by name.
func (s *Store) FilterConcurrencyLimits(ctx context.Context, q store.ConcurrencyLimitQuery) ([]schema.ConcurrencyLimitV2, error) {
	w := newWhere(s.d)
	if q.NamePrefix != "" {
		w.add(`substr(concurrency_limit_v2.name, 1, ?) = ?`, len([]rune(q.NamePrefix)), q.NamePrefix)
	}
	var rows []limitRow
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		rows, err = scanLimits(c.query(ctx, `SELECT `+limitColumns+` FROM concurrency_limit_v2 WHERE `+w.sql()+
			` ORDER BY concurrency_limit_v2.name`+s.page(q.Page), w.args...))
		return err
	})
	return s.shown(rows), err
}

// shown is rows as the API shows them now, in the same order.
func (s *Store) shown(rows []limitRow) []schema.ConcurrencyLimitV2 {
	now := s.clock()
	out := make([]schema.ConcurrencyLimitV2, len(rows))
	for i, r := range rows {
		out[i] = r.at(now)
	}
	return out
}

// UpdateConcurrencyLimit changes the fields u sets.
func (s *Store) UpdateConcurrencyLimit(ctx context.Context, ref store.LimitRef, u schema.ConcurrencyLimitV2Update) error {
	now := s.clock()
	var up update
	up.set("updated", now)
	if u.Active != nil {
		up.set("active", *u.Active)
	}
	if u.Name != nil {
		up.set("name", *u.Name)
	}
	if u.Limit != nil {
		up.set(`"limit"`, *u.Limit)
	}
	if u.ActiveSlots != nil {
		up.set("active_slots", *u.ActiveSlots)
		up.set("active_slots_as_of", now)
	}
	if u.DeniedSlots != nil {
		up.set("denied_slots", *u.DeniedSlots)
		up.set("denied_slots_as_of", now)
	}
	if u.SlotDecayPerSecond != nil {
		up.set("slot_decay_per_second", *u.SlotDecayPerSecond)
	}
	cond, arg := refWhere(ref)
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		return mustDelete(up.exec(ctx, c, "concurrency_limit_v2", strings.TrimPrefix(cond, "concurrency_limit_v2."), arg))
	})
}

// DeleteConcurrencyLimit deletes a limit; its lease links go with it.
func (s *Store) DeleteConcurrencyLimit(ctx context.Context, ref store.LimitRef) error {
	cond, arg := refWhere(ref)
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		return mustDelete(c.exec(ctx, `DELETE FROM concurrency_limit_v2 WHERE `+strings.TrimPrefix(cond, "concurrency_limit_v2."), arg))
	})
}

// lockLimits reads the limits whose id (byID) or name is in vals, locking
// them in id order.
func (s *Store) lockLimits(ctx context.Context, c conn, byID bool, vals []string) ([]limitRow, error) {
	col := "concurrency_limit_v2.name"
	if byID {
		col = "concurrency_limit_v2.id"
	}
	return scanLimits(c.query(ctx, `SELECT `+limitColumns+` FROM concurrency_limit_v2 WHERE `+s.d.InList(col, byID, false)+
		` ORDER BY concurrency_limit_v2.id`+s.d.ForUpdate("concurrency_limit_v2"), s.d.ListArg(vals)))
}

// errSlotsTaken rolls back an acquisition whose conditional UPDATE found a
// limit full after all; under the row locks it does not happen.
var errSlotsTaken = errors.New("concurrency slots taken concurrently")

// AcquireConcurrencySlots takes slots from every active limit named, all or none.
func (s *Store) AcquireConcurrencySlots(ctx context.Context, a store.SlotAcquisition) (store.SlotAcquisitionResult, error) {
	var res store.SlotAcquisitionResult
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		res = store.SlotAcquisitionResult{}
		limits, err := s.lockLimits(ctx, c, false, dedupe(a.Names))
		if err != nil {
			return err
		}
		now := s.clock()
		var active []limitRow
		var noDecay []string
		for _, l := range limits {
			found := l.ConcurrencyLimitV2
			found.ActiveSlots, _ = l.decayedActive(now)
			found.DeniedSlots, _ = l.decayedDenied(now, a.Waits)
			res.Limits = append(res.Limits, found)
			if !l.Active {
				continue
			}
			if l.Limit < a.Slots {
				return &store.SlotsOverLimitError{Name: l.Name, Limit: l.Limit}
			}
			if l.SlotDecayPerSecond == 0 {
				noDecay = append(noDecay, l.Name)
			}
			active = append(active, l)
		}
		sort.Slice(res.Limits, func(i, j int) bool { return res.Limits[i].Name < res.Limits[j].Name })
		if a.Mode == schema.ModeRateLimit && len(noDecay) > 0 {
			sort.Strings(noDecay)
			return &store.RateLimitWithoutDecayError{Names: noDecay}
		}
		fits := true
		for _, l := range active {
			if n, _ := l.decayedActive(now); a.Slots > l.Limit-n {
				fits = false
			}
		}
		if !fits {
			// Nothing is taken; each active limit counts the denial.
			for _, l := range active {
				n, nAsOf := l.decayedActive(now)
				d, dAsOf := l.decayedDenied(now, a.Waits)
				if _, err := c.exec(ctx, `UPDATE concurrency_limit_v2 SET active_slots = ?, active_slots_as_of = ?,
					denied_slots = ?, denied_slots_as_of = ?, updated = ? WHERE id = ?`,
					n, nAsOf, satAdd(d, a.Slots), dAsOf, now, l.ID); err != nil {
					return err
				}
			}
			return nil
		}
		for _, l := range active {
			n, nAsOf := l.decayedActive(now)
			d, dAsOf := l.decayedDenied(now, a.Waits)
			decayed := l.ActiveSlots - n
			r, err := c.exec(ctx, `UPDATE concurrency_limit_v2 SET active_slots = active_slots - ? + ?, active_slots_as_of = ?,
				denied_slots = ?, denied_slots_as_of = ?, updated = ?
				WHERE id = ? AND active AND active_slots - ? + ? <= "limit"`,
				decayed, a.Slots, nAsOf, d, dAsOf, now, l.ID, decayed, a.Slots)
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n != 1 {
				return errSlotsTaken
			}
		}
		res.Acquired = true
		res.LeaseID = uuid.Must(uuid.NewV7())
		if a.Lease == nil || len(limits) == 0 {
			return nil
		}
		ids := make([]uuid.UUID, len(active))
		for i, l := range active {
			ids[i] = l.ID
		}
		return insertLease(ctx, c, store.ConcurrencyLease{ID: res.LeaseID, Created: now, Expiration: now.Add(a.Lease.TTL),
			Slots: a.Slots, Holder: a.Lease.Holder, LimitIDs: ids})
	})
	if errors.Is(err, errSlotsTaken) {
		return store.SlotAcquisitionResult{Limits: res.Limits}, nil
	}
	if err != nil {
		return store.SlotAcquisitionResult{}, err
	}
	res.Limits = nonNil(res.Limits)
	return res, nil
}

func insertLease(ctx context.Context, c conn, l store.ConcurrencyLease) error {
	var holderType *string
	var holderID *uuid.UUID
	if l.Holder != nil {
		holderType, holderID = &l.Holder.Type, &l.Holder.ID
	}
	if _, err := c.exec(ctx, `INSERT INTO concurrency_lease (id, created, expiration, slots, holder_type, holder_id) VALUES (?, ?, ?, ?, ?, ?)`,
		l.ID, l.Created, l.Expiration, l.Slots, holderType, holderID); err != nil {
		return err
	}
	for _, id := range l.LimitIDs {
		if _, err := c.exec(ctx, `INSERT INTO concurrency_lease_limit (lease_id, limit_id) VALUES (?, ?)`, l.ID, id); err != nil {
			return err
		}
	}
	return nil
}

// ReleaseConcurrencySlots gives slots back to the active limits named.
func (s *Store) ReleaseConcurrencySlots(ctx context.Context, r store.SlotRelease) ([]schema.ConcurrencyLimitV2, error) {
	var out []schema.ConcurrencyLimitV2
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		limits, err := s.lockLimits(ctx, c, false, dedupe(r.Names))
		if err != nil {
			return err
		}
		var active []limitRow
		for _, l := range limits {
			out = append(out, l.ConcurrencyLimitV2)
			if l.Active {
				active = append(active, l)
			}
		}
		return s.decrement(ctx, c, active, r.Slots, r.OccupancySeconds, r.Waits)
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return nonNil(out), err
}

// decrement gives slots back to limits, which the caller has locked.
func (s *Store) decrement(ctx context.Context, c conn, limits []limitRow, slots int, occupancy *float64, waits store.SlotWaits) error {
	now := s.clock()
	for _, l := range limits {
		avg := l.AvgSlotOccupancySeconds
		if occupancy != nil {
			avg = l.averageOccupancy(slots, *occupancy)
		}
		n, nAsOf := l.decayedActive(now)
		d, dAsOf := l.decayedDenied(now, waits)
		if _, err := c.exec(ctx, `UPDATE concurrency_limit_v2 SET active_slots = ?, active_slots_as_of = ?, denied_slots = ?,
			denied_slots_as_of = ?, avg_slot_occupancy_seconds = ?, updated = ? WHERE id = ?`,
			max(n-slots, 0), nAsOf, d, dAsOf, avg, now, l.ID); err != nil {
			return err
		}
	}
	return nil
}

// RenewConcurrencyLease extends an unexpired lease.
func (s *Store) RenewConcurrencyLease(ctx context.Context, id uuid.UUID, ttl time.Duration) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		now := s.clock()
		return mustDelete(c.exec(ctx, `UPDATE concurrency_lease SET expiration = ? WHERE id = ? AND expiration > ?`, now.Add(ttl), id, now))
	})
}

// ReleaseConcurrencyLease deletes a lease and gives its slots back.
func (s *Store) ReleaseConcurrencyLease(ctx context.Context, id uuid.UUID, waits store.SlotWaits) (bool, error) {
	var released bool
	err := s.tx(ctx, func(ctx context.Context, c conn) (err error) {
		released, err = s.releaseLease(ctx, c, id, waits, false)
		return err
	})
	return released, err
}

// releaseLease locks the lease's limits, deletes the lease (only if it has
// expired, when expiredOnly) and gives its slots back, crediting the time
// it was held to the limits' average occupancy. Deleting with RETURNING
// makes exactly one of several concurrent releasers (a client, the
// repossessors of several replicas) give the slots back.
func (s *Store) releaseLease(ctx context.Context, c conn, id uuid.UUID, waits store.SlotWaits, expiredOnly bool) (bool, error) {
	ids, err := leaseLimitIDs(ctx, c, id)
	if err != nil {
		return false, err
	}
	limits, err := s.lockLimits(ctx, c, true, uuidTexts(ids))
	if err != nil {
		return false, err
	}
	now := s.clock()
	q, args := `DELETE FROM concurrency_lease WHERE id = ?`, []any{id}
	if expiredOnly {
		q, args = q+` AND expiration <= ?`, append(args, now)
	}
	var created time.Time
	var slots int
	err = c.queryRow(ctx, q+` RETURNING created, slots`, args...).Scan(ts(&created), &slots)
	if err := classify(err); errors.Is(err, schema.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	occupancy := math.Max(now.Sub(created).Seconds(), 0)
	return true, s.decrement(ctx, c, limits, slots, &occupancy, waits)
}

func leaseLimitIDs(ctx context.Context, c conn, leaseID uuid.UUID) ([]uuid.UUID, error) {
	return idsOf(ctx, c, `SELECT limit_id FROM concurrency_lease_limit WHERE lease_id = ? ORDER BY limit_id`, leaseID)
}

// ReleaseConcurrencyLeasesOfHolder releases the holder's leases on any of limitIDs.
func (s *Store) ReleaseConcurrencyLeasesOfHolder(ctx context.Context, limitIDs []uuid.UUID, holderID uuid.UUID, waits store.SlotWaits) (int, error) {
	if len(limitIDs) == 0 {
		return 0, nil
	}
	var leases []uuid.UUID
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		leases, err = idsOf(ctx, c, `SELECT DISTINCT l.id FROM concurrency_lease l JOIN concurrency_lease_limit ll ON ll.lease_id = l.id
			WHERE l.holder_id = ? AND `+s.d.InList("ll.limit_id", true, false), holderID, s.d.ListArg(uuidTexts(limitIDs)))
		return err
	})
	if err != nil {
		return 0, err
	}
	return s.releaseEach(ctx, leases, waits, false)
}

// releaseEach releases leases one transaction each, so no transaction holds
// one lease while it waits for another's limits.
func (s *Store) releaseEach(ctx context.Context, leases []uuid.UUID, waits store.SlotWaits, expiredOnly bool) (int, error) {
	n := 0
	for _, id := range leases {
		var released bool
		err := s.tx(ctx, func(ctx context.Context, c conn) (err error) {
			released, err = s.releaseLease(ctx, c, id, waits, expiredOnly)
			return err
		})
		if err != nil {
			return n, err
		}
		if released {
			n++
		}
	}
	return n, nil
}

// ReclaimExpiredConcurrencyLeases releases up to max expired leases.
func (s *Store) ReclaimExpiredConcurrencyLeases(ctx context.Context, limit int, waits store.SlotWaits) (int, error) {
	var expired []uuid.UUID
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		expired, err = idsOf(ctx, c, `SELECT id FROM concurrency_lease WHERE expiration <= ? ORDER BY expiration LIMIT ?`, s.clock(), max(limit, 1))
		return err
	})
	if err != nil {
		return 0, err
	}
	return s.releaseEach(ctx, expired, waits, true)
}

// ReadConcurrencyLease returns one lease.
func (s *Store) ReadConcurrencyLease(ctx context.Context, id uuid.UUID) (store.ConcurrencyLease, error) {
	var l store.ConcurrencyLease
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		var holderType *string
		var holderID *uuid.UUID
		err := c.queryRow(ctx, `SELECT id, created, expiration, slots, holder_type, holder_id FROM concurrency_lease WHERE id = ?`, id).
			Scan(&l.ID, ts(&l.Created), ts(&l.Expiration), &l.Slots, nullString{&holderType}, nullUUID{&holderID})
		if err != nil {
			return classify(err)
		}
		if holderType != nil && holderID != nil {
			l.Holder = &schema.ConcurrencyLeaseHolder{Type: *holderType, ID: *holderID}
		}
		l.LimitIDs, err = leaseLimitIDs(ctx, c, id)
		return err
	})
	return l, err
}

// ConcurrencyLeaseHolders lists the holders of unexpired leases per limit.
func (s *Store) ConcurrencyLeaseHolders(ctx context.Context, limitIDs []uuid.UUID) (map[uuid.UUID][]schema.ConcurrencyLeaseHolder, error) {
	out := map[uuid.UUID][]schema.ConcurrencyLeaseHolder{}
	if len(limitIDs) == 0 {
		return out, nil
	}
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		rows, err := c.query(ctx, `SELECT ll.limit_id, l.holder_type, l.holder_id FROM concurrency_lease_limit ll
			JOIN concurrency_lease l ON l.id = ll.lease_id
			WHERE `+s.d.InList("ll.limit_id", true, false)+` AND l.expiration > ? AND l.holder_id IS NOT NULL
			ORDER BY l.created, l.id`, s.d.ListArg(uuidTexts(limitIDs)), s.clock())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var limitID uuid.UUID
			var h schema.ConcurrencyLeaseHolder
			var holderType *string
			if err := rows.Scan(&limitID, nullString{&holderType}, &h.ID); err != nil {
				return classify(err)
			}
			if holderType != nil {
				h.Type = *holderType
			}
			out[limitID] = append(out[limitID], h)
		}
		return classify(rows.Err())
	})
	return out, err
}

// ResetConcurrencyLimit drops every hold on the limit and gives one slot to
// each of holders, under new leases.
func (s *Store) ResetConcurrencyLimit(ctx context.Context, id uuid.UUID, holders []schema.ConcurrencyLeaseHolder, ttl time.Duration) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		limits, err := s.lockLimits(ctx, c, true, []string{id.String()})
		if err != nil {
			return err
		}
		if len(limits) == 0 {
			return schema.ErrNotFound
		}
		var leases []uuid.UUID
		rows, err := c.query(ctx, `SELECT lease_id FROM concurrency_lease_limit WHERE limit_id = ?`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var lease uuid.UUID
			if err := rows.Scan(&lease); err != nil {
				rows.Close()
				return classify(err)
			}
			leases = append(leases, lease)
		}
		rows.Close()
		if err := classify(rows.Err()); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM concurrency_lease_limit WHERE limit_id = ?`, id); err != nil {
			return err
		}
		for start := 0; start < len(leases); start += 500 {
			batch := leases[start:min(start+500, len(leases))]
			if _, err := c.exec(ctx, `DELETE FROM concurrency_lease WHERE id IN (`+placeholders(len(batch))+`)
				AND NOT EXISTS (SELECT 1 FROM concurrency_lease_limit ll WHERE ll.lease_id = concurrency_lease.id)`, anyArgs(batch)...); err != nil {
				return err
			}
		}
		now := s.clock()
		if _, err := c.exec(ctx, `UPDATE concurrency_limit_v2 SET active_slots = ?, active_slots_as_of = ?, updated = ? WHERE id = ?`,
			len(holders), now, now, id); err != nil {
			return err
		}
		for _, h := range holders {
			if err := insertLease(ctx, c, store.ConcurrencyLease{ID: uuid.Must(uuid.NewV7()), Created: now, Expiration: now.Add(ttl),
				Slots: 1, Holder: &h, LimitIDs: []uuid.UUID{id}}); err != nil {
				return err
			}
		}
		return nil
	})
}

// dedupe drops repeated names, keeping the first of each.
func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// satAdd adds without overflowing.
func satAdd(a, b int) int {
	if b > 0 && a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}
