package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// slotStates are the run states that hold a pool's or queue's concurrency
// slot, for the limits a worker's poll honours and for active_slots.
var slotStates = []any{string(schema.StatePending), string(schema.StateRunning), string(schema.StateCancelling)}

const workPoolColumns = `work_pool.id, work_pool.created, work_pool.updated, work_pool.name, work_pool.description,
	work_pool.type, work_pool.base_job_template, work_pool.is_paused, work_pool.default_queue_id,
	work_pool.concurrency_limit, work_pool.status, work_pool.storage_configuration`

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
