package sqlstore

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/store"
)

// slotHoldersWhere is the WHERE clause of the runs q selects (on flow_run
// fr), as Prefect's work pool and work queue schedulers count slots.
func (s *Store) slotHoldersWhere(q store.SlotHolders) (*where, error) {
	w := newWhere(s.d)
	switch {
	case q.PoolID != nil && q.QueueID == nil:
		w.add(`fr.state_type IN ('PENDING', 'RUNNING')`)
		w.add(`fr.work_queue_id IN (SELECT id FROM work_queue WHERE work_pool_id = ?)`, *q.PoolID)
		if q.QueueIDs != nil {
			w.inIDs("fr.work_queue_id", q.QueueIDs, false)
		}
	case q.QueueID != nil && q.PoolID == nil:
		w.add(`fr.state_type IN ('PENDING', 'RUNNING', 'CANCELLING')`)
		w.add(`(fr.work_queue_id = ? OR (fr.work_queue_id IS NULL AND fr.work_queue_name = (SELECT name FROM work_queue WHERE id = ?)))`,
			*q.QueueID, *q.QueueID)
	default:
		return nil, errors.New("slot holders of a pool or of a queue")
	}
	return w, nil
}

// CountSlotHolders counts the runs holding slots by work queue id.
func (s *Store) CountSlotHolders(ctx context.Context, q store.SlotHolders) (map[uuid.UUID]int, error) {
	w, err := s.slotHoldersWhere(q)
	if err != nil {
		return nil, err
	}
	// A run held by queue name alone counts under the nil id.
	return s.countsByID(ctx, `SELECT COALESCE(fr.work_queue_id, ?), count(*) FROM flow_run fr WHERE `+w.sql()+
		` GROUP BY fr.work_queue_id`, append([]any{uuid.Nil}, w.args...)...)
}

// ReadSlotHolders reads the runs holding slots by id, at most PerQueue of
// each queue (a window over the queue) or the page Offset, Limit.
func (s *Store) ReadSlotHolders(ctx context.Context, q store.SlotHolders) ([]store.SlotHolder, error) {
	w, err := s.slotHoldersWhere(q)
	if err != nil {
		return nil, err
	}
	cols := `fr.id, fr.name, fr.state_type, fr.state_name, fr.start_time, fr.state_timestamp, fr.work_queue_id`
	query := `SELECT ` + cols + ` FROM flow_run fr WHERE ` + w.sql() + ` ORDER BY fr.id LIMIT ? OFFSET ?`
	args := append(w.args, q.Limit, q.Offset)
	if q.PerQueue > 0 {
		query = `SELECT id, name, state_type, state_name, start_time, state_timestamp, work_queue_id FROM (
			SELECT ` + cols + `, row_number() OVER (PARTITION BY fr.work_queue_id ORDER BY fr.id) AS n
			FROM flow_run fr WHERE ` + w.sql() + `) ranked WHERE n <= ? ORDER BY id`
		args = append(w.args, q.PerQueue)
	}
	var out []store.SlotHolder
	err = s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, func(sc scanner) (store.SlotHolder, error) {
			var h store.SlotHolder
			return h, sc.Scan(&h.ID, &h.Name, nullString{&h.StateType}, nullString{&h.StateName},
				nullTime{&h.StartTime}, nullTime{&h.StateTimestamp}, nullUUID{&h.QueueID})
		}, query, args...)
		return err
	})
	return out, err
}

// WorkQueueDepths counts each work queue's SCHEDULED runs, with the
// earliest next scheduled start among them.
func (s *Store) WorkQueueDepths(ctx context.Context) ([]store.WorkQueueDepth, error) {
	var out []store.WorkQueueDepth
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, func(sc scanner) (store.WorkQueueDepth, error) {
			var d store.WorkQueueDepth
			return d, sc.Scan(&d.Pool, &d.Queue, &d.Scheduled, nullTime{&d.Earliest})
		}, `SELECT wp.name, wq.name, count(fr.id), min(fr.next_scheduled_start_time)
			FROM work_queue wq JOIN work_pool wp ON wp.id = wq.work_pool_id
			LEFT JOIN flow_run fr ON fr.work_queue_id = wq.id AND fr.state_type = 'SCHEDULED'
			GROUP BY wp.name, wq.name ORDER BY wp.name, wq.name`)
		return err
	})
	return out, err
}
