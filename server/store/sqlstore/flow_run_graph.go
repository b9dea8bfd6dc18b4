package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// FlowRunGraph reads a flow run's task runs with their subflow runs, and its
// artifacts other than results with whether each is its key's latest, in
// one read transaction; the graph itself is drawn by the caller.
func (s *Store) FlowRunGraph(ctx context.Context, id uuid.UUID, maxArtifacts int) (store.GraphSource, error) {
	var g store.GraphSource
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		err := c.queryRow(ctx, `SELECT coalesce(start_time, expected_start_time), end_time FROM flow_run WHERE id = ?`, id).
			Scan(nullTime{&g.Start}, nullTime{&g.End})
		if err != nil {
			return classify(err)
		}
		g.Tasks, err = queryAll(ctx, c, scanGraphTask, `SELECT task_run.id, task_run.name, task_run.state_type,
			task_run.start_time, task_run.expected_start_time, task_run.end_time, task_run.task_inputs,
			sub.id, flow.name || ' / ' || sub.name, sub.state_type, sub.start_time, sub.expected_start_time, sub.end_time
			FROM task_run
			LEFT JOIN flow_run sub ON sub.parent_task_run_id = task_run.id
			LEFT JOIN flow ON flow.id = sub.flow_id
			WHERE task_run.flow_run_id = ?`, id)
		if err != nil {
			return err
		}
		// As Prefect: an artifact without a type is left out with the results.
		g.Artifacts, err = queryAll(ctx, c, scanGraphArtifact, `SELECT artifact.id, artifact.created, artifact.key,
			artifact.type, artifact.data, artifact.task_run_id,
			CASE WHEN artifact.key IS NULL OR NOT (`+latestOnly+`) THEN 0 ELSE 1 END
			FROM artifact WHERE artifact.flow_run_id = ? AND artifact.type <> 'result'
			ORDER BY artifact.created, artifact.id LIMIT ?`, id, maxArtifacts)
		return err
	})
	return g, err
}

func scanGraphTask(row scanner) (store.GraphTask, error) {
	var t store.GraphTask
	var state, subState, subLabel *string
	var subID *uuid.UUID
	var sub store.GraphRun
	err := row.Scan(&t.ID, &t.Label, nullString{&state}, nullTime{&t.Start}, nullTime{&t.ExpectedStart}, nullTime{&t.End},
		jsonCol{&t.Inputs}, nullUUID{&subID}, nullString{&subLabel}, nullString{&subState},
		nullTime{&sub.Start}, nullTime{&sub.ExpectedStart}, nullTime{&sub.End})
	if err != nil {
		return t, classify(err)
	}
	t.StateType = stateTypeOf(state)
	if subID != nil {
		sub.ID, sub.StateType = *subID, stateTypeOf(subState)
		if subLabel != nil {
			sub.Label = *subLabel
		}
		t.Subflow = &sub
	}
	return t, nil
}

func scanGraphArtifact(row scanner) (store.GraphSourceArtifact, error) {
	var a store.GraphSourceArtifact
	var data json.RawMessage
	var latest int
	err := row.Scan(&a.ID, ts(&a.Created), nullString{&a.Key}, nullString{&a.Type}, jsonCol{&data}, nullUUID{&a.TaskRunID}, &latest)
	a.IsLatest = latest == 1
	if a.Type != nil && *a.Type == "progress" {
		a.Data = data
	}
	return a, classify(err)
}

func stateTypeOf(s *string) *schema.StateType {
	if s == nil {
		return nil
	}
	t := schema.StateType(*s)
	return &t
}
