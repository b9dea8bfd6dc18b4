package sqlstore

import (
	"context"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// CountDeploymentsByFlow counts the deployments of each flow that has any.
func (s *Store) CountDeploymentsByFlow(ctx context.Context, flowIDs []uuid.UUID) (map[uuid.UUID]int, error) {
	w := newWhere(s.d)
	w.ids("deployment.flow_id", &schema.IDFilter{Any: flowIDs})
	return s.countsByID(ctx, `SELECT deployment.flow_id, count(*) FROM deployment WHERE `+w.sql()+` GROUP BY deployment.flow_id`, w.args...)
}

func scanSimpleNextFlowRun(row scanner) (schema.SimpleNextFlowRun, error) {
	var r schema.SimpleNextFlowRun
	err := row.Scan(&r.ID, &r.FlowID, &r.Name, &r.StateName, &r.StateType, ts(&r.NextScheduledStartTime))
	return r, classify(err)
}

// NextScheduledFlowRuns returns each flow's SCHEDULED run that starts
// first, as Prefect's /ui/flows/next-runs picks it; of runs due at the same
// instant, the one with the lowest id, where Prefect takes any.
func (s *Store) NextScheduledFlowRuns(ctx context.Context, flowIDs []uuid.UUID) (map[uuid.UUID]schema.SimpleNextFlowRun, error) {
	w := newWhere(s.d)
	w.ids("flow_run.flow_id", &schema.IDFilter{Any: flowIDs})
	w.add(`flow_run.state_type = 'SCHEDULED' AND flow_run.next_scheduled_start_time IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM flow_run sooner WHERE sooner.flow_id = flow_run.flow_id AND sooner.state_type = 'SCHEDULED'
		AND (sooner.next_scheduled_start_time < flow_run.next_scheduled_start_time
			OR (sooner.next_scheduled_start_time = flow_run.next_scheduled_start_time AND sooner.id < flow_run.id)))`)
	out := map[uuid.UUID]schema.SimpleNextFlowRun{}
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		runs, err := queryAll(ctx, c, scanSimpleNextFlowRun, `SELECT flow_run.id, flow_run.flow_id, flow_run.name, flow_run.state_name,
			flow_run.state_type, flow_run.next_scheduled_start_time FROM flow_run WHERE `+w.sql(), w.args...)
		for _, r := range runs {
			out[r.FlowID] = r
		}
		return err
	})
	return out, err
}
