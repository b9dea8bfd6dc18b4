package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// slotStates are the run states that hold a pool's or queue's concurrency
// slot, for the limits a worker's poll honours and for active_slots.
var slotStates = []any{string(schema.StatePending), string(schema.StateRunning), string(schema.StateCancelling)}

// workQueueLastPolledTimeout is how recently a queue must have been polled
// to be READY when it is unpaused (Prefect's WORK_QUEUE_LAST_POLLED_TIMEOUT).
const workQueueLastPolledTimeout = 60 * time.Second

const workPoolColumns = `work_pool.id, work_pool.created, work_pool.updated, work_pool.name, work_pool.description,
	work_pool.type, work_pool.base_job_template, work_pool.is_paused, work_pool.default_queue_id,
	work_pool.concurrency_limit, work_pool.status, work_pool.storage_configuration`

type scanner interface{ Scan(...any) error }

func scanWorkPool(row scanner) (schema.WorkPool, error) {
	var p schema.WorkPool
	var status string
	var storage json.RawMessage
	err := row.Scan(&p.ID, ts(&p.Created), ts(&p.Updated), &p.Name, nullString{&p.Description},
		&p.Type, jsonCol{&p.BaseJobTemplate}, &p.IsPaused, nullUUID{&p.DefaultQueueID},
		nullInt{&p.ConcurrencyLimit}, &status, jsonCol{&storage})
	if err != nil {
		return p, classify(err)
	}
	if p.Type != schema.AgentPoolType {
		p.Status = &status
	}
	if len(storage) > 0 {
		_ = json.Unmarshal(storage, &p.StorageConfiguration)
	}
	if len(p.BaseJobTemplate) == 0 {
		p.BaseJobTemplate = json.RawMessage(`{}`)
	}
	return p, nil
}

// nullInt scans a nullable integer into *p.
type nullInt struct{ p **int }

func (n nullInt) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n.p = nil
	case int64:
		i := int(x)
		*n.p = &i
	case int32:
		i := int(x)
		*n.p = &i
	case float64:
		i := int(x)
		*n.p = &i
	default:
		var i int64
		if err := convertInt(v, &i); err != nil {
			return err
		}
		ii := int(i)
		*n.p = &ii
	}
	return nil
}

func convertInt(v any, dst *int64) error {
	switch x := v.(type) {
	case []byte:
		return json.Unmarshal(x, dst)
	case string:
		return json.Unmarshal([]byte(x), dst)
	}
	return errors.New("cannot scan into an integer")
}

// CreateWorkPool inserts a pool and its default queue.
func (s *Store) CreateWorkPool(ctx context.Context, in schema.WorkPoolCreate) (schema.WorkPool, error) {
	var out schema.WorkPool
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = s.insertWorkPool(ctx, c, in)
		return err
	})
	return out, err
}

func (s *Store) insertWorkPool(ctx context.Context, c conn, in schema.WorkPoolCreate) (schema.WorkPool, error) {
	now := s.clock()
	status := schema.StatusNotReady
	if in.IsPaused {
		status = schema.StatusPaused
	}
	storage := schema.WorkPoolStorageConfiguration{}
	if in.StorageConfiguration != nil {
		storage = *in.StorageConfiguration
	}
	id := uuid.Must(uuid.NewV7())
	template := in.BaseJobTemplate
	if len(template) == 0 {
		template = json.RawMessage(`{}`)
	}
	if _, err := c.exec(ctx, `INSERT INTO work_pool (id, created, updated, name, description, type, base_job_template,
		is_paused, concurrency_limit, status, last_transitioned_status_at, storage_configuration)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, now, now, in.Name, in.Description, in.Type, template, in.IsPaused, in.ConcurrencyLimit, status, now,
		mustJSON(storage)); err != nil {
		var conflict *schema.ConflictError
		if errors.As(err, &conflict) {
			return schema.WorkPool{}, &schema.ConflictError{Msg: "A work pool with this name already exists."}
		}
		return schema.WorkPool{}, err
	}
	desc := "The work pool's default queue."
	q, err := s.insertWorkQueue(ctx, c, id, schema.WorkQueueCreate{Name: schema.DefaultQueueName, Description: &desc})
	if err != nil {
		return schema.WorkPool{}, err
	}
	if _, err := c.exec(ctx, `UPDATE work_pool SET default_queue_id = ? WHERE id = ?`, q.ID, id); err != nil {
		return schema.WorkPool{}, err
	}
	return s.workPoolIn(ctx, c, `work_pool.id = ?`, id)
}

// workPoolIn reads one pool in a transaction or read, with its active slots.
func (s *Store) workPoolIn(ctx context.Context, c conn, cond string, arg any) (schema.WorkPool, error) {
	p, err := scanWorkPool(c.queryRow(ctx, `SELECT `+workPoolColumns+` FROM work_pool WHERE `+cond, arg))
	if err != nil {
		return p, err
	}
	return p, s.fillPoolSlots(ctx, c, []*schema.WorkPool{&p})
}

// fillPoolSlots sets active_slots on the pools that have a limit.
func (s *Store) fillPoolSlots(ctx context.Context, c conn, pools []*schema.WorkPool) error {
	for _, p := range pools {
		if p.ConcurrencyLimit == nil {
			continue
		}
		n, err := s.poolActiveSlots(ctx, c, p.ID)
		if err != nil {
			return err
		}
		p.ActiveSlots = &n
	}
	return nil
}

func (s *Store) poolActiveSlots(ctx context.Context, c conn, poolID uuid.UUID) (int, error) {
	var n int
	err := c.queryRow(ctx, `SELECT count(*) FROM flow_run WHERE flow_run.work_queue_id IN
		(SELECT work_queue.id FROM work_queue WHERE work_queue.work_pool_id = ?)
		AND flow_run.state_type IN (`+placeholders(len(slotStates))+`)`, append([]any{poolID}, slotStates...)...).Scan(&n)
	return n, classify(err)
}

func (s *Store) queueActiveSlots(ctx context.Context, c conn, queueID uuid.UUID) (int, error) {
	var n int
	err := c.queryRow(ctx, `SELECT count(*) FROM flow_run WHERE flow_run.work_queue_id = ?
		AND flow_run.state_type IN (`+placeholders(len(slotStates))+`)`, append([]any{queueID}, slotStates...)...).Scan(&n)
	return n, classify(err)
}

// ReadWorkPool returns one pool.
func (s *Store) ReadWorkPool(ctx context.Context, id uuid.UUID) (schema.WorkPool, error) {
	var p schema.WorkPool
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		p, err = s.workPoolIn(ctx, c, `work_pool.id = ?`, id)
		return err
	})
	return p, err
}

// ReadWorkPoolByName returns the pool with that name.
func (s *Store) ReadWorkPoolByName(ctx context.Context, name string) (schema.WorkPool, error) {
	var p schema.WorkPool
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		p, err = s.poolByName(ctx, c, name)
		return err
	})
	return p, err
}

func (s *Store) poolByName(ctx context.Context, c conn, name string) (schema.WorkPool, error) {
	p, err := s.workPoolIn(ctx, c, `work_pool.name = ?`, name)
	if errors.Is(err, schema.ErrNotFound) {
		return p, schema.WorkPoolNotFound(name)
	}
	return p, err
}

func (s *Store) workPoolWhere(w *where, f *schema.WorkPoolFilter) {
	if f == nil {
		return
	}
	w.nested(f.Operator, func(in *where) {
		in.ids("work_pool.id", f.ID)
		in.text("work_pool.name", f.Name)
		in.text("work_pool.type", f.Type)
	})
}

// FilterWorkPools returns the pools matching q, by name.
func (s *Store) FilterWorkPools(ctx context.Context, q schema.WorkPoolQuery) ([]schema.WorkPool, error) {
	w := newWhere(s.d)
	s.workPoolWhere(w, q.WorkPools)
	var out []schema.WorkPool
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		rows, err := c.query(ctx, `SELECT `+workPoolColumns+` FROM work_pool WHERE `+w.sql()+` ORDER BY work_pool.name, work_pool.id`+s.page(q.Page), w.args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			p, err := scanWorkPool(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, p)
		}
		rows.Close()
		if err := classify(rows.Err()); err != nil {
			return err
		}
		ptrs := make([]*schema.WorkPool, len(out))
		for i := range out {
			ptrs[i] = &out[i]
		}
		return s.fillPoolSlots(ctx, c, ptrs)
	})
	return nonNil(out), err
}

// CountWorkPools counts the pools matching q.
func (s *Store) CountWorkPools(ctx context.Context, q schema.WorkPoolQuery) (int, error) {
	w := newWhere(s.d)
	s.workPoolWhere(w, q.WorkPools)
	return s.count(ctx, `SELECT count(*) FROM work_pool WHERE `+w.sql(), w.args)
}

// UpdateWorkPool applies the fields u sets and the status that follows.
func (s *Store) UpdateWorkPool(ctx context.Context, name string, u schema.WorkPoolUpdate) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		p, err := scanWorkPool(c.queryRow(ctx, `SELECT `+workPoolColumns+` FROM work_pool WHERE work_pool.name = ?`+s.d.ForUpdate("work_pool"), name))
		if errors.Is(err, schema.ErrNotFound) {
			return schema.WorkPoolNotFound(name)
		}
		if err != nil {
			return err
		}
		now := s.clock()
		var up update
		if u.Description.Set {
			up.set("description", u.Description.Value)
		}
		if u.BaseJobTemplate != nil {
			up.set("base_job_template", u.BaseJobTemplate)
		}
		if u.ConcurrencyLimit.Set {
			up.set("concurrency_limit", u.ConcurrencyLimit.Value)
		}
		if u.StorageConfiguration.Set {
			storage := schema.WorkPoolStorageConfiguration{}
			if u.StorageConfiguration.Value != nil {
				storage = *u.StorageConfiguration.Value
			}
			up.set("storage_configuration", mustJSON(storage))
		}
		if u.IsPaused.Set && u.IsPaused.Value != nil {
			paused := *u.IsPaused.Value
			up.set("is_paused", paused)
			if p.Type != schema.AgentPoolType {
				status := schema.StatusPaused
				if !paused {
					status = schema.StatusNotReady
					online, err := s.poolHasOnlineWorker(ctx, c, p.ID, now)
					if err != nil {
						return err
					}
					if online {
						status = schema.StatusReady
					}
				}
				up.set("status", status)
				up.set("last_transitioned_status_at", now)
				up.set("last_status_event_id", uuid.Must(uuid.NewV7()))
			}
		}
		up.set("updated", now)
		_, err = up.exec(ctx, c, "work_pool", "id = ?", p.ID)
		return err
	})
}

func (s *Store) poolHasOnlineWorker(ctx context.Context, c conn, poolID uuid.UUID, now time.Time) (bool, error) {
	workers, err := s.workersIn(ctx, c, poolID, nil, schema.Page{})
	if err != nil {
		return false, err
	}
	for _, w := range workers {
		if w.Online(now) {
			return true, nil
		}
	}
	return false, nil
}

// DeleteWorkPool deletes a pool with its queues and workers.
func (s *Store) DeleteWorkPool(ctx context.Context, name string) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		var id uuid.UUID
		if err := c.queryRow(ctx, `SELECT id FROM work_pool WHERE name = ?`, name).Scan(&id); err != nil {
			if err = classify(err); errors.Is(err, schema.ErrNotFound) {
				return schema.WorkPoolNotFound(name)
			}
			return err
		}
		queues := `SELECT work_queue.id FROM work_queue WHERE work_queue.work_pool_id = ?`
		if _, err := c.exec(ctx, `UPDATE flow_run SET work_queue_id = NULL, work_pool_id = NULL, work_pool_name = NULL
			WHERE work_queue_id IN (`+queues+`)`, id); err != nil {
			return err
		}
		// deployment.work_queue_id and the queues and workers go by their
		// foreign keys.
		return mustDelete(c.exec(ctx, `DELETE FROM work_pool WHERE id = ?`, id))
	})
}

// --- Queues ---

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

// --- Workers ---

const workerColumns = `worker.id, worker.created, worker.updated, worker.name, worker.work_pool_id,
	worker.last_heartbeat_time, worker.heartbeat_interval_seconds, worker.status`

func scanWorker(row scanner) (schema.Worker, error) {
	var w schema.Worker
	err := row.Scan(&w.ID, ts(&w.Created), ts(&w.Updated), &w.Name, &w.WorkPoolID,
		nullTime{&w.LastHeartbeatTime}, nullInt{&w.HeartbeatIntervalSeconds}, &w.Status)
	return w, classify(err)
}

// WorkerHeartbeat upserts the worker and readies its pool.
func (s *Store) WorkerHeartbeat(ctx context.Context, pool, name string, interval *int) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		var poolID uuid.UUID
		var status string
		if err := c.queryRow(ctx, `SELECT id, status FROM work_pool WHERE name = ?`, pool).Scan(&poolID, &status); err != nil {
			if err = classify(err); errors.Is(err, schema.ErrNotFound) {
				return schema.WorkPoolNotFound(pool)
			}
			return err
		}
		now := s.clock()
		onConflict := `last_heartbeat_time = excluded.last_heartbeat_time, status = excluded.status, updated = excluded.updated`
		if interval != nil {
			onConflict += `, heartbeat_interval_seconds = excluded.heartbeat_interval_seconds`
		}
		if _, err := c.exec(ctx, `INSERT INTO worker (id, created, updated, work_pool_id, name, last_heartbeat_time,
			heartbeat_interval_seconds, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (work_pool_id, name) DO UPDATE SET `+onConflict,
			uuid.Must(uuid.NewV7()), now, now, poolID, name, now, interval, schema.WorkerOnline); err != nil {
			return err
		}
		if status == schema.StatusNotReady {
			_, err := c.exec(ctx, `UPDATE work_pool SET status = ?, last_transitioned_status_at = ?, last_status_event_id = ?,
				updated = ? WHERE id = ? AND status = ?`,
				schema.StatusReady, now, uuid.Must(uuid.NewV7()), now, poolID, schema.StatusNotReady)
			return err
		}
		return nil
	})
}

func (s *Store) workersIn(ctx context.Context, c conn, poolID uuid.UUID, f *schema.WorkerFilter, page schema.Page) ([]schema.Worker, error) {
	w := newWhere(s.d)
	w.add("worker.work_pool_id = ?", poolID)
	if f != nil {
		w.nested(f.Operator, func(in *where) {
			in.times("worker.last_heartbeat_time", f.LastHeartbeatTime)
			if f.Status != nil {
				if f.Status.Any != nil {
					in.in("worker.status", texts(f.Status.Any), false)
				}
				if len(f.Status.NotAny) > 0 {
					in.in("worker.status", texts(f.Status.NotAny), true)
				}
			}
		})
	}
	rows, err := c.query(ctx, `SELECT `+workerColumns+` FROM worker WHERE `+w.sql()+
		` ORDER BY worker.last_heartbeat_time DESC, worker.id`+s.page(page), w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []schema.Worker
	for rows.Next() {
		wk, err := scanWorker(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, wk)
	}
	return nonNil(out), classify(rows.Err())
}

// FilterWorkers lists a pool's workers, latest heartbeat first.
func (s *Store) FilterWorkers(ctx context.Context, pool string, q schema.WorkerQuery) ([]schema.Worker, error) {
	var out []schema.Worker
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		p, err := s.poolByName(ctx, c, pool)
		if err != nil {
			return err
		}
		out, err = s.workersIn(ctx, c, p.ID, q.Workers, q.Page)
		return err
	})
	return out, err
}

// DeleteWorker deletes a pool's worker.
func (s *Store) DeleteWorker(ctx context.Context, pool, name string) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		var poolID uuid.UUID
		if err := c.queryRow(ctx, `SELECT id FROM work_pool WHERE name = ?`, pool).Scan(&poolID); err != nil {
			if err = classify(err); errors.Is(err, schema.ErrNotFound) {
				return schema.WorkPoolNotFound(pool)
			}
			return err
		}
		err := mustDelete(c.exec(ctx, `DELETE FROM worker WHERE work_pool_id = ? AND name = ?`, poolID, name))
		if errors.Is(err, schema.ErrNotFound) {
			return &schema.NotFoundError{Detail: "Worker not found."}
		}
		return err
	})
}

// --- Polling ---

// GetScheduledFlowRuns answers a worker's poll.
func (s *Store) GetScheduledFlowRuns(ctx context.Context, q schema.ScheduledRunsQuery) ([]schema.WorkerFlowRun, error) {
	var out []schema.WorkerFlowRun
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		var paused bool
		var poolLimit *int
		if err := c.queryRow(ctx, `SELECT is_paused, concurrency_limit FROM work_pool WHERE id = ?`, q.WorkPoolID).
			Scan(&paused, nullInt{&poolLimit}); err != nil {
			return classify(err)
		}
		if paused || q.Limit <= 0 {
			return nil
		}
		poolFree := q.Limit
		if poolLimit != nil {
			n, err := s.poolActiveSlots(ctx, c, q.WorkPoolID)
			if err != nil {
				return err
			}
			poolFree = min(poolFree, max(0, *poolLimit-n))
		}
		if poolFree == 0 {
			return nil
		}
		w := newWhere(s.d)
		w.add("work_queue.work_pool_id = ?", q.WorkPoolID)
		w.add("work_queue.is_paused = ?", false)
		if q.WorkQueueIDs != nil {
			w.inIDs("work_queue.id", q.WorkQueueIDs, false)
		}
		type queue struct {
			id    uuid.UUID
			limit *int
		}
		rows, err := c.query(ctx, `SELECT work_queue.id, work_queue.concurrency_limit FROM work_queue WHERE `+w.sql()+
			` ORDER BY work_queue.priority, work_queue.id`, w.args...)
		if err != nil {
			return err
		}
		var queues []queue
		for rows.Next() {
			var wq queue
			if err := rows.Scan(&wq.id, nullInt{&wq.limit}); err != nil {
				rows.Close()
				return classify(err)
			}
			queues = append(queues, wq)
		}
		rows.Close()
		if err := classify(rows.Err()); err != nil {
			return err
		}
		for _, wq := range queues {
			if len(out) >= poolFree {
				break
			}
			free := poolFree - len(out)
			if wq.limit != nil {
				n, err := s.queueActiveSlots(ctx, c, wq.id)
				if err != nil {
					return err
				}
				free = min(free, max(0, *wq.limit-n))
			}
			if free == 0 {
				continue
			}
			rw := newWhere(s.d)
			rw.add("flow_run.work_queue_id = ?", wq.id)
			rw.add("flow_run.state_type = ?", string(schema.StateScheduled))
			rw.add("COALESCE("+s.d.JSONText("flow_run.empirical_policy")+", '') <> 'in_process'", s.d.JSONKey("retry_type"))
			if q.ScheduledAfter != nil {
				rw.add("flow_run.next_scheduled_start_time >= ?", *q.ScheduledAfter)
			}
			if q.ScheduledBefore != nil {
				rw.add("flow_run.next_scheduled_start_time <= ?", *q.ScheduledBefore)
			}
			runs, err := s.flowRunsIn(ctx, c, `SELECT `+flowRunColumns+flowRunFrom+` WHERE `+rw.sql()+
				` ORDER BY flow_run.next_scheduled_start_time, flow_run.id LIMIT `+strconv.Itoa(free), rw.args...)
			if err != nil {
				return err
			}
			for _, r := range runs {
				out = append(out, schema.WorkerFlowRun{WorkPoolID: q.WorkPoolID, WorkQueueID: wq.id, FlowRun: r})
			}
		}
		return nil
	})
	return nonNil(out), err
}

// flowRunsIn runs a flow-run SELECT.
func (s *Store) flowRunsIn(ctx context.Context, c conn, query string, args ...any) ([]schema.FlowRun, error) {
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []schema.FlowRun
	for rows.Next() {
		r, err := scanFlowRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, classify(rows.Err())
}

// MarkWorkQueuesPolled records a poll of the queues and readies their deployments.
func (s *Store) MarkWorkQueuesPolled(ctx context.Context, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		now := s.clock()
		args := append([]any{now, schema.StatusNotReady, schema.StatusReady}, anyArgs(ids)...)
		if _, err := c.exec(ctx, `UPDATE work_queue SET last_polled = ?,
			status = CASE WHEN status = ? THEN ? ELSE status END
			WHERE id IN (`+placeholders(len(ids))+`)`, args...); err != nil {
			return err
		}
		_, err := c.exec(ctx, `UPDATE deployment SET status = ?, last_polled = ? WHERE work_queue_id IN (`+placeholders(len(ids))+`)`,
			append([]any{schema.DeploymentReady, now}, anyArgs(ids)...)...)
		return err
	})
}
