package sqlstore

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// workQueueLastPolledTimeout is how recently a queue must have been polled
// to be READY when it is unpaused (Prefect's WORK_QUEUE_LAST_POLLED_TIMEOUT).
const workQueueLastPolledTimeout = 60 * time.Second

const workQueueColumns = `work_queue.id, work_queue.created, work_queue.updated, work_queue.name, work_queue.description,
	work_queue.is_paused, work_queue.concurrency_limit, work_queue.priority, work_queue.work_pool_id, work_queue.filter,
	work_queue.last_polled, work_queue.status, work_pool.name`

const workQueueFrom = ` FROM work_queue JOIN work_pool ON work_pool.id = work_queue.work_pool_id`

func scanWorkQueue(row scanner) (schema.WorkQueue, error) {
	var q schema.WorkQueue
	var status string
	err := row.Scan(&q.ID, ts(&q.Created), ts(&q.Updated), &q.Name, nullString{&q.Description},
		&q.IsPaused, nullInt{&q.ConcurrencyLimit}, &q.Priority, nullUUID{&q.WorkPoolID}, jsonCol{&q.Filter},
		nullTime{&q.LastPolled}, &status, nullString{&q.WorkPoolName})
	if err != nil {
		return q, classify(err)
	}
	q.Status = &status
	if string(q.Filter) == "null" {
		q.Filter = nil
	}
	return q, nil
}

func (s *Store) workQueueIn(ctx context.Context, c conn, cond string, args ...any) (schema.WorkQueue, error) {
	q, err := scanWorkQueue(c.queryRow(ctx, `SELECT `+workQueueColumns+workQueueFrom+` WHERE `+cond, args...))
	if err != nil {
		return q, err
	}
	return q, s.fillQueueSlots(ctx, c, []*schema.WorkQueue{&q})
}

func (s *Store) fillQueueSlots(ctx context.Context, c conn, queues []*schema.WorkQueue) error {
	for _, q := range queues {
		if q.ConcurrencyLimit == nil {
			continue
		}
		n, err := s.queueActiveSlots(ctx, c, q.ID)
		if err != nil {
			return err
		}
		q.ActiveSlots = &n
	}
	return nil
}

// insertWorkQueue adds a queue to a pool, placing it by priority.
func (s *Store) insertWorkQueue(ctx context.Context, c conn, poolID uuid.UUID, in schema.WorkQueueCreate) (schema.WorkQueue, error) {
	queues, err := s.queuePriorities(ctx, c, poolID)
	if err != nil {
		return schema.WorkQueue{}, err
	}
	priority := 0
	if in.Priority != nil {
		priority = *in.Priority
	} else {
		// The first priority not taken, or one past the last.
		for i, q := range queues {
			if q.priority != i+1 {
				priority = i + 1
				break
			}
		}
		if priority == 0 {
			priority = len(queues) + 1
			if len(queues) > 0 && queues[len(queues)-1].priority >= priority {
				priority = queues[len(queues)-1].priority + 1
			}
		}
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	now := s.clock()
	id := uuid.Must(uuid.NewV7())
	var filter any
	if len(in.Filter) > 0 && string(in.Filter) != "null" {
		filter = in.Filter
	}
	status := schema.StatusNotReady
	if in.IsPaused {
		status = schema.StatusPaused
	}
	if _, err := c.exec(ctx, `INSERT INTO work_queue (id, created, updated, name, filter, description, is_paused,
		concurrency_limit, priority, status, work_pool_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, now, now, in.Name, filter, desc, in.IsPaused, in.ConcurrencyLimit, priority, status, poolID); err != nil {
		return schema.WorkQueue{}, err
	}
	if in.Priority != nil {
		if err := s.reprioritize(ctx, c, poolID, id, priority); err != nil {
			return schema.WorkQueue{}, err
		}
	}
	return s.workQueueIn(ctx, c, `work_queue.id = ?`, id)
}

type queuePriority struct {
	id       uuid.UUID
	priority int
}

func (s *Store) queuePriorities(ctx context.Context, c conn, poolID uuid.UUID) ([]queuePriority, error) {
	rows, err := c.query(ctx, `SELECT id, priority FROM work_queue WHERE work_pool_id = ? ORDER BY priority, id`, poolID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queuePriority
	for rows.Next() {
		var q queuePriority
		if err := rows.Scan(&q.id, &q.priority); err != nil {
			return nil, classify(err)
		}
		out = append(out, q)
	}
	return out, classify(rows.Err())
}

// reprioritize gives queue id the priority p and moves the queues in its
// way down, changing as few as it can so priorities stay unique (Prefect's
// bulk_update_work_queue_priorities).
func (s *Store) reprioritize(ctx context.Context, c conn, poolID, id uuid.UUID, p int) error {
	all, err := s.queuePriorities(ctx, c, poolID)
	if err != nil {
		return err
	}
	var order []queuePriority
	for _, q := range all {
		if q.id != id {
			order = append(order, q)
		}
	}
	moved := queuePriority{id: id, priority: p}
	at := sort.Search(len(order), func(i int) bool { return order[i].priority >= p })
	order = append(order[:at], append([]queuePriority{moved}, order[at:]...)...)
	last := 0
	for _, q := range order {
		want := q.priority
		if want <= last {
			want = last + 1
		}
		last = want
		if q.id == id && want == p {
			continue // written by the caller
		}
		if want != q.priority || q.id == id {
			if _, err := c.exec(ctx, `UPDATE work_queue SET priority = ? WHERE id = ?`, want, q.id); err != nil {
				return err
			}
		}
	}
	return nil
}

// CreateWorkQueue adds a queue to the named pool.
func (s *Store) CreateWorkQueue(ctx context.Context, pool string, in schema.WorkQueueCreate) (schema.WorkQueue, error) {
	var out schema.WorkQueue
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		p, err := s.poolByName(ctx, c, pool)
		if err != nil {
			return err
		}
		out, err = s.insertWorkQueue(ctx, c, p.ID, in)
		var conflict *schema.ConflictError
		if errors.As(err, &conflict) {
			return &schema.ConflictError{Msg: "A work queue with this name already exists in work pool '" + pool + "'."}
		}
		return err
	})
	return out, err
}

// ReadWorkQueue returns one queue.
func (s *Store) ReadWorkQueue(ctx context.Context, id uuid.UUID) (schema.WorkQueue, error) {
	var q schema.WorkQueue
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		q, err = s.workQueueIn(ctx, c, `work_queue.id = ?`, id)
		return err
	})
	return q, err
}

// ReadWorkQueueByName returns the pool's queue with that name. With pool ""
// it is the legacy lookup: the queue of the default agent pool, or any
// queue with that name when there is no such pool.
func (s *Store) ReadWorkQueueByName(ctx context.Context, pool, name string) (schema.WorkQueue, error) {
	var q schema.WorkQueue
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		if pool == "" {
			q, err = s.workQueueIn(ctx, c, `work_queue.name = ? ORDER BY CASE WHEN work_pool.name = ? THEN 0 ELSE 1 END, work_queue.id LIMIT 1`,
				name, schema.DefaultAgentPoolName)
			return err
		}
		q, err = s.queueByName(ctx, c, pool, name)
		return err
	})
	return q, err
}

func (s *Store) queueByName(ctx context.Context, c conn, pool, name string) (schema.WorkQueue, error) {
	q, err := s.workQueueIn(ctx, c, `work_pool.name = ? AND work_queue.name = ?`, pool, name)
	if errors.Is(err, schema.ErrNotFound) {
		return q, schema.WorkQueueNotFound(pool, name)
	}
	return q, err
}

// EnsureWorkQueue returns the pool's queue, creating it when missing.
func (s *Store) EnsureWorkQueue(ctx context.Context, pool, name string) (schema.WorkQueue, error) {
	var out schema.WorkQueue
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		p, err := s.poolByName(ctx, c, pool)
		if err != nil {
			return err
		}
		out, err = s.ensureQueue(ctx, c, p, name)
		return err
	})
	return out, err
}

func (s *Store) ensureQueue(ctx context.Context, c conn, p schema.WorkPool, name string) (schema.WorkQueue, error) {
	q, err := s.workQueueIn(ctx, c, `work_queue.work_pool_id = ? AND work_queue.name = ?`, p.ID, name)
	if !errors.Is(err, schema.ErrNotFound) {
		return q, err
	}
	return s.insertWorkQueue(ctx, c, p.ID, schema.WorkQueueCreate{Name: name})
}

// FilterWorkQueues lists queues of a pool by priority, or of every pool by name.
func (s *Store) FilterWorkQueues(ctx context.Context, pool string, q schema.WorkQueueQuery) ([]schema.WorkQueue, error) {
	var out []schema.WorkQueue
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		w := newWhere(s.d)
		order := ` ORDER BY work_queue.name, work_queue.id`
		if pool != "" {
			p, err := s.poolByName(ctx, c, pool)
			if err != nil {
				return err
			}
			w.add("work_queue.work_pool_id = ?", p.ID)
			order = ` ORDER BY work_queue.priority, work_queue.id`
		}
		if f := q.WorkQueues; f != nil {
			w.nested(f.Operator, func(in *where) {
				in.ids("work_queue.id", f.ID)
				in.text("work_queue.name", f.Name)
			})
		}
		rows, err := c.query(ctx, `SELECT `+workQueueColumns+workQueueFrom+` WHERE `+w.sql()+order+s.page(q.Page), w.args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			wq, err := scanWorkQueue(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, wq)
		}
		rows.Close()
		if err := classify(rows.Err()); err != nil {
			return err
		}
		ptrs := make([]*schema.WorkQueue, len(out))
		for i := range out {
			ptrs[i] = &out[i]
		}
		return s.fillQueueSlots(ctx, c, ptrs)
	})
	return nonNil(out), err
}

// UpdateWorkQueue applies the fields u sets.
func (s *Store) UpdateWorkQueue(ctx context.Context, id uuid.UUID, u schema.WorkQueueUpdate) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		cur, err := scanWorkQueue(c.queryRow(ctx, `SELECT `+workQueueColumns+workQueueFrom+` WHERE work_queue.id = ?`+s.d.ForUpdate("work_queue"), id))
		if err != nil {
			return err
		}
		now := s.clock()
		var up update
		if u.Name != nil {
			up.set("name", *u.Name)
		}
		if u.Description.Set {
			// The column is NOT NULL with default '' (as in Prefect, which
			// answers a null with a 409): a null clears the description, as
			// it does on create.
			up.set("description", deref(u.Description.Value))
		}
		if u.ConcurrencyLimit.Set {
			up.set("concurrency_limit", u.ConcurrencyLimit.Value)
		}
		lastPolled := cur.LastPolled
		if u.LastPolled.Set {
			up.set("last_polled", u.LastPolled.Value)
			lastPolled = u.LastPolled.Value.Ptr()
		}
		if u.IsPaused != nil {
			up.set("is_paused", *u.IsPaused)
			status := deref(cur.Status)
			switch {
			case *u.IsPaused && status != schema.StatusPaused:
				up.set("status", schema.StatusPaused)
			case !*u.IsPaused && status == schema.StatusPaused:
				next := schema.StatusNotReady
				if lastPolled != nil && now.Sub(*lastPolled) <= workQueueLastPolledTimeout {
					next = schema.StatusReady
				}
				up.set("status", next)
			}
		}
		up.set("updated", now)
		if _, err := up.exec(ctx, c, "work_queue", "id = ?", id); err != nil {
			var conflict *schema.ConflictError
			if errors.As(err, &conflict) {
				return &schema.ConflictError{Msg: "A work queue with this name already exists in work pool '" + deref(cur.WorkPoolName) + "'."}
			}
			return err
		}
		if u.Priority != nil && cur.WorkPoolID != nil {
			if _, err := c.exec(ctx, `UPDATE work_queue SET priority = ? WHERE id = ?`, *u.Priority, id); err != nil {
				return err
			}
			return s.reprioritize(ctx, c, *cur.WorkPoolID, id, *u.Priority)
		}
		return nil
	})
}

// DeleteWorkQueue deletes a queue that is not its pool's default.
func (s *Store) DeleteWorkQueue(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		var isDefault int
		if err := c.queryRow(ctx, `SELECT count(*) FROM work_pool WHERE default_queue_id = ?`, id).Scan(&isDefault); err != nil {
			return classify(err)
		}
		if isDefault > 0 {
			return &schema.ConflictError{Msg: "Can't delete a pool's default queue."}
		}
		if _, err := c.exec(ctx, `UPDATE flow_run SET work_queue_id = NULL, work_pool_id = NULL, work_pool_name = NULL
			WHERE work_queue_id = ?`, id); err != nil {
			return err
		}
		return mustDelete(c.exec(ctx, `DELETE FROM work_queue WHERE id = ?`, id))
	})
}

func (s *Store) queueActiveSlots(ctx context.Context, c conn, queueID uuid.UUID) (int, error) {
	var n int
	err := c.queryRow(ctx, `SELECT count(*) FROM flow_run WHERE flow_run.work_queue_id = ?
		AND flow_run.state_type IN (`+placeholders(len(slotStates))+`)`, append([]any{queueID}, slotStates...)...).Scan(&n)
	return n, classify(err)
}
