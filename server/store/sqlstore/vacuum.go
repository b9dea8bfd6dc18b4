package sqlstore

import (
	"context"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// terminalTypes are the state types of a finished run, as stored.
var terminalTypes = []any{schema.StateCompleted, schema.StateFailed, schema.StateCancelled, schema.StateCrashed}

// DeleteFlowRunsEndedBefore deletes one batch of old finished top-level runs.
// Subflow runs stay with their parent's task runs until the parent goes, as
// in Prefect; task_run has no foreign key, so its rows go explicitly.
func (s *Store) DeleteFlowRunsEndedBefore(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	var deleted int
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		args := append(append([]any{}, terminalTypes...), cutoff, limit)
		found, err := idsOf(ctx, c, `SELECT id FROM flow_run
			WHERE parent_task_run_id IS NULL AND state_type IN (`+placeholders(len(terminalTypes))+`)
			AND end_time IS NOT NULL AND end_time < ? ORDER BY end_time LIMIT ?`, args...)
		if err != nil || len(found) == 0 {
			return err
		}
		ids := anyArgs(found)
		if _, err := c.exec(ctx, `DELETE FROM task_run WHERE flow_run_id IN (`+placeholders(len(ids))+`)`, ids...); err != nil {
			return err
		}
		res, err := c.exec(ctx, `DELETE FROM flow_run WHERE id IN (`+placeholders(len(ids))+`)`, ids...)
		if err != nil {
			return err
		}
		deleted = affected(res)
		return nil
	})
	return deleted, err
}

// DeleteOrphanedLogs deletes one batch of logs whose flow run was deleted.
func (s *Store) DeleteOrphanedLogs(ctx context.Context, limit int) (int, error) {
	return s.deleteOrphans(ctx, "log", limit)
}

// DeleteOrphanedArtifacts deletes one batch of artifacts whose flow run was deleted.
func (s *Store) DeleteOrphanedArtifacts(ctx context.Context, limit int) (int, error) {
	return s.deleteOrphans(ctx, "artifact", limit)
}

// deleteOrphans deletes up to limit rows of table (which has a nullable
// flow_run_id column) that point at a flow run that no longer exists.
func (s *Store) deleteOrphans(ctx context.Context, table string, limit int) (int, error) {
	var deleted int
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		res, err := c.exec(ctx, `DELETE FROM `+table+` WHERE id IN (SELECT id FROM `+table+` t
			WHERE t.flow_run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM flow_run WHERE flow_run.id = t.flow_run_id) LIMIT ?)`, limit)
		if err != nil {
			return err
		}
		deleted = affected(res)
		return nil
	})
	return deleted, err
}
