package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

const bucketColumns = `automation_id, trigger_id, bucketing_key, start, "end", count, last_event, last_operation`

func scanBucket(row scanner) (store.AutomationBucket, error) {
	var b store.AutomationBucket
	var key json.RawMessage
	var last json.RawMessage
	err := row.Scan(&b.AutomationID, &b.TriggerID, jsonCol{&key}, ts(&b.Start), ts(&b.End), &b.Count, jsonCol{&last}, &b.LastOperation)
	if err != nil {
		return b, classify(err)
	}
	_ = json.Unmarshal(key, &b.Key)
	if b.Key == nil {
		b.Key = []string{}
	}
	if len(last) > 0 {
		b.LastEvent = new(schema.Event)
		if err := json.Unmarshal(last, b.LastEvent); err != nil {
			return b, err
		}
	}
	return b, nil
}

// bucketKey is the stored form of a bucketing key: its JSON array.
func bucketKey(key []string) string { return string(mustJSON(nonNil(key))) }

// holdAutomation locks the automation's row for the transaction, or says
// it is gone.
func (s *Store) holdAutomation(ctx context.Context, c conn, id uuid.UUID) error {
	if err := s.lockRow(ctx, c, "automation", id); err != nil {
		return err
	}
	var n int
	if err := classify(c.queryRow(ctx, `SELECT count(*) FROM automation WHERE id = ?`, id).Scan(&n)); err != nil {
		return err
	}
	if n == 0 {
		return schema.ErrNotFound
	}
	return nil
}

// writeBucket keeps next for key, or deletes key's bucket when next is nil.
func writeBucket(ctx context.Context, c conn, automationID, triggerID uuid.UUID, key []string, next *store.AutomationBucket, now time.Time) error {
	if next == nil {
		_, err := c.exec(ctx, `DELETE FROM automation_bucket WHERE automation_id = ? AND trigger_id = ? AND bucketing_key = ?`,
			automationID, triggerID, bucketKey(key))
		return classify(err)
	}
	var last any
	if next.LastEvent != nil {
		last = string(mustJSON(next.LastEvent))
	}
	_, err := c.exec(ctx, `INSERT INTO automation_bucket (`+bucketColumns+`, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (automation_id, trigger_id, bucketing_key) DO UPDATE SET start = excluded.start, "end" = excluded."end",
			count = excluded.count, last_event = excluded.last_event, last_operation = excluded.last_operation, updated = excluded.updated`,
		automationID, triggerID, bucketKey(key), next.Start, next.End, next.Count, last, next.LastOperation, now)
	return classify(err)
}

// UpdateBucket hands fn the trigger's bucket for key and keeps its answer.
func (s *Store) UpdateBucket(ctx context.Context, automationID, triggerID uuid.UUID, key []string,
	fn func(*store.AutomationBucket) (*store.AutomationBucket, error)) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := s.holdAutomation(ctx, c, automationID); err != nil {
			return err
		}
		var cur *store.AutomationBucket
		b, err := scanBucket(c.queryRow(ctx, `SELECT `+bucketColumns+` FROM automation_bucket
			WHERE automation_id = ? AND trigger_id = ? AND bucketing_key = ?`, automationID, triggerID, bucketKey(key)))
		switch {
		case err == nil:
			cur = &b
		case err != schema.ErrNotFound:
			return err
		}
		next, err := fn(cur)
		if err != nil || (next == nil && cur == nil) {
			return err
		}
		return writeBucket(ctx, c, automationID, triggerID, key, next, s.clock())
	})
}

// UpdateTriggerBuckets hands fn all the trigger's buckets and makes its
// changes.
func (s *Store) UpdateTriggerBuckets(ctx context.Context, automationID, triggerID uuid.UUID,
	fn func([]store.AutomationBucket) ([]store.BucketChange, error)) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := s.holdAutomation(ctx, c, automationID); err != nil {
			return err
		}
		buckets, err := queryAll(ctx, c, scanBucket, `SELECT `+bucketColumns+` FROM automation_bucket
			WHERE automation_id = ? AND trigger_id = ? ORDER BY bucketing_key`, automationID, triggerID)
		if err != nil {
			return err
		}
		changes, err := fn(buckets)
		if err != nil {
			return err
		}
		now := s.clock()
		for _, ch := range changes {
			if err := writeBucket(ctx, c, automationID, triggerID, ch.Key, ch.Next, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// SweepBuckets deletes the buckets whose window ended before the time.
func (s *Store) SweepBuckets(ctx context.Context, endedBefore time.Time) (int, error) {
	var n int
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		res, err := c.exec(ctx, `DELETE FROM automation_bucket WHERE "end" <= ?`, endedBefore)
		if err != nil {
			return err
		}
		n = affected(res)
		return nil
	})
	return n, err
}

const childFiringColumns = `automation_id, parent_trigger_id, child_trigger_id, child_firing_id, child_fired_at, child_firing`

func scanChildFiring(row scanner) (store.ChildFiring, error) {
	var f store.ChildFiring
	err := row.Scan(&f.AutomationID, &f.ParentTriggerID, &f.ChildTriggerID, &f.FiringID, ts(&f.FiredAt), jsonCol{&f.Firing})
	return f, classify(err)
}

// RecordChildFiring keeps f as its child's latest firing and claims the
// composite's firings when ready says they fire it.
func (s *Store) RecordChildFiring(ctx context.Context, f store.ChildFiring, notBefore *time.Time,
	ready func([]store.ChildFiring) bool) ([]store.ChildFiring, error) {
	var claimed []store.ChildFiring
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := s.holdAutomation(ctx, c, f.AutomationID); err != nil {
			return err
		}
		if notBefore != nil {
			if _, err := c.exec(ctx, `DELETE FROM composite_trigger_child_firing
				WHERE automation_id = ? AND parent_trigger_id = ? AND child_fired_at < ?`, f.AutomationID, f.ParentTriggerID, *notBefore); err != nil {
				return classify(err)
			}
		}
		now := s.clock()
		if _, err := c.exec(ctx, `INSERT INTO composite_trigger_child_firing (`+childFiringColumns+`, updated) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (automation_id, parent_trigger_id, child_trigger_id) DO UPDATE SET child_firing_id = excluded.child_firing_id,
				child_fired_at = excluded.child_fired_at, child_firing = excluded.child_firing, updated = excluded.updated`,
			f.AutomationID, f.ParentTriggerID, f.ChildTriggerID, f.FiringID, f.FiredAt, string(f.Firing), now); err != nil {
			return classify(err)
		}
		all, err := queryAll(ctx, c, scanChildFiring, `SELECT `+childFiringColumns+` FROM composite_trigger_child_firing
			WHERE automation_id = ? AND parent_trigger_id = ? ORDER BY child_fired_at`, f.AutomationID, f.ParentTriggerID)
		if err != nil {
			return err
		}
		mine := false
		for _, cf := range all {
			mine = mine || cf.FiringID == f.FiringID
		}
		if !mine || !ready(all) {
			return nil
		}
		if _, err := c.exec(ctx, `DELETE FROM composite_trigger_child_firing WHERE automation_id = ? AND parent_trigger_id = ?`,
			f.AutomationID, f.ParentTriggerID); err != nil {
			return classify(err)
		}
		claimed = all
		return nil
	})
	return claimed, err
}
