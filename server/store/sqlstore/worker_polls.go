package sqlstore

import (
	"context"
	"strconv"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

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
