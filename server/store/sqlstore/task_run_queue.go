package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/orchestration"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// enqueueTaskRun queues run for the task workers, in the transaction that
// writes its state (Prefect's EnqueueScheduledTasks). A run queued again
// loses its claim, so the worker it was being sent to cannot ack the new
// entry away.
func enqueueTaskRun(ctx context.Context, c conn, run schema.TaskRun, e orchestration.TaskRunEnqueue, now time.Time) error {
	_, err := c.exec(ctx, `INSERT INTO task_run_queue (task_run_id, task_key, retry, enqueued) VALUES (?, ?, ?, ?)
		ON CONFLICT (task_run_id) DO UPDATE SET task_key = excluded.task_key, retry = excluded.retry,
		enqueued = excluded.enqueued, claim = NULL, claimed_at = NULL`, run.ID, run.TaskKey, e.Retry, now)
	return err
}

// ClaimTaskRun claims the first unclaimed run of keys. On PostgreSQL the
// row is picked with SKIP LOCKED, so concurrent claimers on any replica
// take different rows instead of queueing on one; the outer "claim IS
// NULL" keeps a row from being claimed twice whatever the isolation. On
// SQLite the single writer serialises claims.
func (s *Store) ClaimTaskRun(ctx context.Context, keys []string) (store.TaskRunClaim, bool, error) {
	var out store.TaskRunClaim
	found := false
	if len(keys) == 0 {
		return out, false, nil
	}
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		for {
			claim := uuid.Must(uuid.NewV7())
			var id uuid.UUID
			err := classify(c.queryRow(ctx, `UPDATE task_run_queue SET claim = ?, claimed_at = ?
				WHERE claim IS NULL AND task_run_id = (SELECT task_run_id FROM task_run_queue
					WHERE claim IS NULL AND `+s.d.InList("task_key", false, false)+`
					ORDER BY retry DESC, enqueued, task_run_id LIMIT 1`+s.d.ForUpdate("task_run_queue")+s.d.SkipLocked+`)
				RETURNING task_run_id`, claim, s.clock(), s.d.ListArg(keys)).Scan(&id))
			if errors.Is(err, schema.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			run, err := scanTaskRun(c.queryRow(ctx, `SELECT `+taskRunColumns+taskRunFrom+` WHERE task_run.id = ?`, id))
			if err != nil {
				return err
			}
			if run.StateType == nil || *run.StateType != schema.StateScheduled {
				if _, err := c.exec(ctx, `DELETE FROM task_run_queue WHERE task_run_id = ?`, id); err != nil {
					return err
				}
				continue
			}
			out, found = store.TaskRunClaim{Run: run, Claim: claim}, true
			return nil
		}
	})
	return out, found, err
}

// RenewTaskRunClaim moves the claim's time on.
func (s *Store) RenewTaskRunClaim(ctx context.Context, cl store.TaskRunClaim) (bool, error) {
	var n int
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		res, err := c.exec(ctx, `UPDATE task_run_queue SET claimed_at = ? WHERE task_run_id = ? AND claim = ?`,
			s.clock(), cl.Run.ID, cl.Claim)
		if err == nil {
			n = affected(res)
		}
		return err
	})
	return n > 0, err
}

// AckTaskRun deletes the claimed row.
func (s *Store) AckTaskRun(ctx context.Context, cl store.TaskRunClaim) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		_, err := c.exec(ctx, `DELETE FROM task_run_queue WHERE task_run_id = ? AND claim = ?`, cl.Run.ID, cl.Claim)
		return err
	})
}

// ReleaseTaskRun unclaims the row and puts it with the retries, as Prefect
// puts a run it failed to send in its retry queue.
func (s *Store) ReleaseTaskRun(ctx context.Context, cl store.TaskRunClaim) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		_, err := c.exec(ctx, `UPDATE task_run_queue SET claim = NULL, claimed_at = NULL, retry = ?
			WHERE task_run_id = ? AND claim = ?`, true, cl.Run.ID, cl.Claim)
		return err
	})
}

// ReleaseStaleTaskRunClaims releases, as ReleaseTaskRun does, the claims
// not renewed since before.
func (s *Store) ReleaseStaleTaskRunClaims(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		res, err := c.exec(ctx, `UPDATE task_run_queue SET claim = NULL, claimed_at = NULL, retry = ?
			WHERE claimed_at < ?`, true, before)
		if err == nil {
			n = affected(res)
		}
		return err
	})
	return n, err
}

// QueuedTaskKeys reads which keys have unclaimed runs.
func (s *Store) QueuedTaskKeys(ctx context.Context, keys []string) ([]string, error) {
	out := []string{}
	if len(keys) == 0 {
		return out, nil
	}
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		rows, err := c.query(ctx, `SELECT DISTINCT task_key FROM task_run_queue WHERE claim IS NULL AND `+
			s.d.InList("task_key", false, false), s.d.ListArg(keys))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return classify(err)
			}
			out = append(out, k)
		}
		return classify(rows.Err())
	})
	return out, err
}
