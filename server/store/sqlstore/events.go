package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// InsertEvents stores events whose ids are new, with one event_resources
// row for the resource and each related resource. Rows go in multi-row
// INSERTs: on PostgreSQL each statement is a round trip.
func (s *Store) InsertEvents(ctx context.Context, events []schema.Event) (int, error) {
	events = uniqueEvents(events)
	if len(events) == 0 {
		return 0, nil
	}
	// Rows are encoded before the transaction: on SQLite every write queues
	// for one writer, whose time is the server's ceiling.
	now := s.clock()
	rows := make([][]any, len(events))
	resources := make([][][]any, len(events))
	for i, e := range events {
		// Each resource is encoded once, for its row and the event's arrays.
		resource := mustJSON(e.Resource)
		ids := make([]string, len(e.Related))
		related := make([]json.RawMessage, len(e.Related))
		resources[i] = [][]any{s.row(e.Occurred, e.Resource.ID(), "", resource, e.ID)}
		for j, r := range e.Related {
			ids[j], related[j] = r.ID(), mustJSON(r)
			resources[i] = append(resources[i], s.row(e.Occurred, ids[j], r.Role(), related[j], e.ID))
		}
		rows[i] = s.row(e.ID, e.Occurred, e.Event, e.Resource.ID(), resource, mustJSON(ids), jsonArray(related),
			orEmpty(e.Payload), e.Received, now, e.Follows)
	}
	inserted := 0
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		inserted = 0
		fresh := map[uuid.UUID]bool{}
		for chunk := range rowChunks(rows) {
			// Ids seen before (a client re-sends after a reconnect) are skipped
			// and not returned.
			got, err := idsOf(ctx, c, `INSERT INTO events (id, occurred, event, resource_id, resource, related_resource_ids, related, payload, received, recorded, follows)
				VALUES `+valuesRows(len(chunk), 11)+` ON CONFLICT (id) DO NOTHING RETURNING id`, rowArgs(chunk)...)
			if err != nil {
				return err
			}
			for _, id := range got {
				fresh[id] = true
			}
		}
		inserted = len(fresh)
		var rs [][]any
		for i, e := range events {
			if fresh[e.ID] {
				rs = append(rs, resources[i]...)
			}
		}
		for chunk := range rowChunks(rs) {
			if _, err := c.exec(ctx, `INSERT INTO event_resources (occurred, resource_id, resource_role, resource, event_id) VALUES `+
				valuesRows(len(chunk), 5), rowArgs(chunk)...); err != nil {
				return err
			}
		}
		return nil
	})
	return inserted, err
}

// uniqueEvents keeps the first event of each id.
func uniqueEvents(events []schema.Event) []schema.Event {
	seen := make(map[uuid.UUID]bool, len(events))
	out := events[:0:0]
	for _, e := range events {
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

func (s *Store) eventWhere(f store.EventFilter) *where {
	w := newWhere(s.d)
	if f.Names != nil {
		w.in("events.event", f.Names, false)
	}
	if f.ResourceIDs != nil {
		ids := newWhere(s.d)
		ids.in("er.resource_id", f.ResourceIDs, false)
		w.sub("events.id IN (SELECT er.event_id FROM event_resources er WHERE "+ids.sql()+")", ids)
	}
	if f.Since != nil {
		w.add("events.occurred >= ?", *f.Since)
	}
	if f.Until != nil {
		w.add("events.occurred <= ?", *f.Until)
	}
	s.prefectEventWhere(w, f.Match)
	return w
}

// ReadEvents returns stored events, oldest first.
func (s *Store) ReadEvents(ctx context.Context, f store.EventFilter, limit int) ([]schema.Event, error) {
	return s.selectEvents(ctx, s.eventWhere(f), "events.occurred, events.id", schema.Page{Limit: &limit})
}

func (s *Store) selectEvents(ctx context.Context, w *where, order string, p schema.Page) ([]schema.Event, error) {
	var out []schema.Event
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		rows, err := c.query(ctx, `SELECT id, occurred, event, resource, related, payload, received, follows FROM events
			WHERE `+w.sql()+` ORDER BY `+order+s.page(p), w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e schema.Event
			var received time.Time
			if err := rows.Scan(&e.ID, ts(&e.Occurred), &e.Event, jsonInto{&e.Resource}, jsonInto{&e.Related},
				jsonCol{&e.Payload}, ts(&received), nullUUID{&e.Follows}); err != nil {
				return classify(err)
			}
			e.Received = received
			out = append(out, e)
		}
		return classify(rows.Err())
	})
	return nonNil(out), err
}

// CountEvents counts stored events matching f.
func (s *Store) CountEvents(ctx context.Context, f store.EventFilter) (int, error) {
	w := s.eventWhere(f)
	return s.count(ctx, `SELECT count(*) FROM events WHERE `+w.sql(), w.args)
}

// DeleteEventsBefore deletes one batch of events older than cutoff and their
// event_resources rows; once no such event is left, it sweeps resource rows
// older than cutoff whose event is already gone.
func (s *Store) DeleteEventsBefore(ctx context.Context, cutoff time.Time, limit int) (int, int, error) {
	var events, resources int
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		found, err := idsOf(ctx, c, `SELECT id FROM events WHERE occurred < ? ORDER BY occurred LIMIT ?`, cutoff, limit)
		if err != nil {
			return err
		}
		ids := anyArgs(found)
		if len(ids) == 0 {
			res, err := c.exec(ctx, `DELETE FROM event_resources WHERE event_id IN (SELECT event_id FROM event_resources WHERE occurred < ? LIMIT ?)`, cutoff, limit)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			resources = int(n)
			return nil
		}
		res, err := c.exec(ctx, `DELETE FROM event_resources WHERE event_id IN (`+placeholders(len(ids))+`)`, ids...)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		resources = int(n)
		res, err = c.exec(ctx, `DELETE FROM events WHERE id IN (`+placeholders(len(ids))+`)`, ids...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		events = int(n)
		return nil
	})
	return events, resources, err
}
