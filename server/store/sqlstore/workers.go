package sqlstore

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

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
