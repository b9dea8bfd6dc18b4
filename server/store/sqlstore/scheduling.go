package sqlstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// scheduleRunsOf selects a schedule's future auto-scheduled runs that are
// still SCHEDULED: the runs whose idempotency key is the scheduler's for
// the deployment and schedule aliased d and s ("scheduled {deployment}
// {schedule} {date}"). The deployment index on flow_run narrows it first.
func (s *Store) scheduleRunsOf(what string) string {
	return `(SELECT ` + what + ` FROM flow_run r WHERE r.deployment_id = d.id AND r.state_type = 'SCHEDULED'
		AND r.auto_scheduled = ? AND r.next_scheduled_start_time >= ?
		AND r.idempotency_key LIKE 'scheduled ' || ` + s.d.AsText("d.id") + ` || ' ' || ` + s.d.AsText("sc.id") + ` || ' %')`
}

// DeploymentsToSchedule returns the deployments the scheduler should visit.
func (s *Store) DeploymentsToSchedule(ctx context.Context, q store.DeploymentsToSchedule) ([]uuid.UUID, error) {
	w := newWhere(s.d)
	w.add("d.paused = ?", false)
	if q.UpdatedSince != nil {
		w.add("d.updated >= ?", *q.UpdatedSince)
		w.add("EXISTS (SELECT 1 FROM deployment_schedule sc WHERE sc.deployment_id = d.id AND sc.active = ?)", true)
	} else {
		w.add(`EXISTS (SELECT 1 FROM deployment_schedule sc WHERE sc.deployment_id = d.id AND sc.active = ?
			AND (`+s.scheduleRunsOf("count(*)")+` < ? OR `+s.scheduleRunsOf("max(r.next_scheduled_start_time)")+` < ?))`,
			true, true, q.Now, q.MinRuns, true, q.Now, q.Now.Add(q.MinScheduledTime))
	}
	if q.After != nil {
		w.add("d.id > ?", *q.After)
	}
	limit := max(q.Limit, 1)
	var out []uuid.UUID
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = idsOf(ctx, c, `SELECT d.id FROM deployment d WHERE `+w.sql()+` ORDER BY d.id LIMIT ?`, append(w.args, limit)...)
		return err
	})
	return out, err
}

// InsertScheduledRuns inserts the runs that are new, with their states, in
// one transaction. A run whose (flow_id, idempotency_key) is taken, by an
// earlier pass or by a concurrent one, is skipped: INSERT ... ON CONFLICT
// DO NOTHING waits for a concurrent insert of the same key to commit and
// then does nothing, and only the rows it returns get a state. Runs are
// inserted in key order, so two concurrent passes take the keys' locks in
// the same order and cannot deadlock.
func (s *Store) InsertScheduledRuns(ctx context.Context, runs []schema.FlowRun) (int, error) {
	if len(runs) == 0 {
		return 0, nil
	}
	runs = slices.Clone(runs)
	slices.SortFunc(runs, func(a, b schema.FlowRun) int {
		if c := strings.Compare(a.FlowID.String(), b.FlowID.String()); c != 0 {
			return c
		}
		return strings.Compare(deref(a.IdempotencyKey), deref(b.IdempotencyKey))
	})
	runs = slices.DeleteFunc(runs, func(r schema.FlowRun) bool { return r.State == nil })
	byID := make(map[uuid.UUID]schema.FlowRun, len(runs))
	for _, r := range runs {
		byID[r.ID] = r
	}
	// Rows are encoded before the transaction, as the other batch writes.
	now := s.clock()
	rows := s.flowRunRows(runs, now)
	inserted := 0
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		inserted = 0
		for chunk := range rowChunks(rows) {
			fresh, err := idsOf(ctx, c, `INSERT INTO flow_run (`+flowRunInsertColumns+`) VALUES `+valuesRows(len(chunk), flowRunInsertWidth)+
				` ON CONFLICT (flow_id, idempotency_key) DO NOTHING RETURNING id`, rowArgs(chunk)...)
			if err != nil {
				return err
			}
			for _, id := range fresh {
				if _, err := insertState(ctx, c, "flow_run_state", "flow_run_id", id, *byID[id].State, now); err != nil {
					return err
				}
			}
			inserted += len(fresh)
		}
		return nil
	})
	return inserted, err
}

// FlowRunIDs returns the ids of the flow runs matching q, in id order.
func (s *Store) FlowRunIDs(ctx context.Context, q store.FlowRunIDs) ([]uuid.UUID, error) {
	w := newWhere(s.d)
	if len(q.StateTypes) > 0 {
		w.in("flow_run.state_type", texts(q.StateTypes), false)
	}
	if q.StateName != nil {
		w.add("flow_run.state_name = ?", *q.StateName)
	}
	if q.ScheduledBefore != nil {
		w.add("flow_run.next_scheduled_start_time <= ?", *q.ScheduledBefore)
	}
	if q.EndedSince != nil {
		w.add("flow_run.end_time >= ?", *q.EndedSince)
	}
	if q.Subflows {
		w.add("flow_run.parent_task_run_id IS NOT NULL")
	}
	if q.After != nil {
		w.add("flow_run.id > ?", *q.After)
	}
	var out []uuid.UUID
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = idsOf(ctx, c, `SELECT flow_run.id FROM flow_run WHERE `+w.sql()+` ORDER BY flow_run.id LIMIT ?`,
			append(w.args, max(q.Limit, 1))...)
		return err
	})
	return out, err
}

// MarkStale applies the foreman's rules in one transaction.
func (s *Store) MarkStale(ctx context.Context, q store.StaleQuery) (store.StaleResult, error) {
	var res store.StaleResult
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		res = store.StaleResult{}
		now := s.clock()
		if !q.Now.IsZero() {
			now = q.Now.UTC().Truncate(time.Microsecond)
		}
		// Workers: the threshold depends on each worker's interval.
		rows, err := c.query(ctx, `SELECT id, last_heartbeat_time, heartbeat_interval_seconds FROM worker WHERE status = ?`, schema.WorkerOnline)
		if err != nil {
			return err
		}
		var stale []any
		for rows.Next() {
			var id uuid.UUID
			var last *time.Time
			var interval *int
			if err := rows.Scan(&id, nullTime{&last}, nullInt{&interval}); err != nil {
				rows.Close()
				return classify(err)
			}
			every := q.FallbackHeartbeatInterval
			if interval != nil {
				every = time.Duration(*interval) * time.Second
			}
			if last == nil || now.Sub(*last) > every*time.Duration(q.InactivityHeartbeatMultiple) {
				stale = append(stale, id)
			}
		}
		rows.Close()
		if err := classify(rows.Err()); err != nil {
			return err
		}
		if len(stale) > 0 {
			r, err := c.exec(ctx, `UPDATE worker SET status = ?, updated = ? WHERE status = ? AND id IN (`+placeholders(len(stale))+`)`,
				append([]any{schema.WorkerOffline, now, schema.WorkerOnline}, stale...)...)
			if err != nil {
				return err
			}
			res.Workers = affected(r)
		}

		// Pools without an online worker; each status change gets its own
		// event id, as the pool's status events would.
		pools, err := idsOf(ctx, c, `SELECT id FROM work_pool WHERE status = ? AND NOT EXISTS
			(SELECT 1 FROM worker WHERE worker.work_pool_id = work_pool.id AND worker.status = ?)`, schema.StatusReady, schema.WorkerOnline)
		if err != nil {
			return err
		}
		for _, id := range pools {
			r, err := c.exec(ctx, `UPDATE work_pool SET status = ?, last_transitioned_status_at = ?, last_status_event_id = ?,
				updated = ? WHERE id = ? AND status = ?`, schema.StatusNotReady, now, uuid.Must(uuid.NewV7()), now, id, schema.StatusReady)
			if err != nil {
				return err
			}
			res.WorkPools += affected(r)
		}

		// Deployments: polled neither directly nor through their queue. Like
		// MarkDeploymentsReady, this leaves updated alone (the scheduler
		// watches it).
		threshold := now.Add(-q.DeploymentTimeout)
		r, err := c.exec(ctx, `UPDATE deployment SET status = ? WHERE status = ? AND last_polled IS NOT NULL AND last_polled < ?
			AND NOT EXISTS (SELECT 1 FROM work_queue q WHERE q.id = deployment.work_queue_id AND q.last_polled IS NOT NULL AND q.last_polled >= ?)`,
			schema.DeploymentNotReady, schema.DeploymentReady, threshold, threshold)
		if err != nil {
			return err
		}
		res.Deployments = affected(r)

		r, err = c.exec(ctx, `UPDATE work_queue SET status = ?, updated = ? WHERE status = ? AND last_polled IS NOT NULL AND last_polled < ?`,
			schema.StatusNotReady, now, schema.StatusReady, now.Add(-q.WorkQueueTimeout))
		if err != nil {
			return err
		}
		res.WorkQueues = affected(r)
		return nil
	})
	return res, err
}
