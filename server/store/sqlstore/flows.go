package sqlstore

import (
	"context"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

const flowColumns = `flow.id, flow.created, flow.updated, flow.name, flow.tags, flow.labels`

func scanFlow(row scanner) (schema.Flow, error) {
	var f schema.Flow
	err := row.Scan(&f.ID, ts(&f.Created), ts(&f.Updated), &f.Name, jsonInto{&f.Tags}, jsonCol{&f.Labels})
	return f, classify(err)
}

// UpsertFlow returns the flow with f.Name, creating it if it is new.
func (s *Store) UpsertFlow(ctx context.Context, f schema.FlowCreate) (schema.Flow, bool, error) {
	var out schema.Flow
	created := false
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		now := s.clock()
		res, err := c.exec(ctx, `INSERT INTO flow (id, created, updated, name, tags, labels) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			uuid.Must(uuid.NewV7()), now, now, f.Name, mustJSON(f.Tags), f.Labels)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		created = n == 1
		out, err = scanFlow(c.queryRow(ctx, `SELECT `+flowColumns+` FROM flow WHERE name = ?`, f.Name))
		return err
	})
	return out, created, err
}

// ReadFlow returns one flow.
func (s *Store) ReadFlow(ctx context.Context, id uuid.UUID) (schema.Flow, error) {
	var f schema.Flow
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		f, err = scanFlow(c.queryRow(ctx, `SELECT `+flowColumns+` FROM flow WHERE id = ?`, id))
		return err
	})
	return f, err
}

// ReadFlowByName returns the flow with that name.
func (s *Store) ReadFlowByName(ctx context.Context, name string) (schema.Flow, error) {
	var f schema.Flow
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		f, err = scanFlow(c.queryRow(ctx, `SELECT `+flowColumns+` FROM flow WHERE name = ?`, name))
		return err
	})
	return f, err
}

var flowSorts = map[string]string{
	"":             "flow.name ASC",
	"NAME_ASC":     "flow.name ASC",
	"NAME_DESC":    "flow.name DESC",
	"CREATED_DESC": "flow.created DESC",
	"UPDATED_DESC": "flow.updated DESC",
}

// FilterFlows returns the flows matching q.
func (s *Store) FilterFlows(ctx context.Context, q schema.Query) ([]schema.Flow, error) {
	order, err := sortClause(flowSorts, q.Sort)
	if err != nil {
		return nil, err
	}
	w := s.flowWhere(q)
	var out []schema.Flow
	err = s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, scanFlow, `SELECT `+flowColumns+` FROM flow WHERE `+w.sql()+` ORDER BY `+order+`, flow.id`+s.page(q.Page), w.args...)
		return err
	})
	return nonNil(out), err
}

// CountFlows counts the flows matching q.
func (s *Store) CountFlows(ctx context.Context, q schema.Query) (int, error) {
	w := s.flowWhere(q)
	return s.count(ctx, `SELECT count(*) FROM flow WHERE `+w.sql(), w.args)
}

func (s *Store) flowWhere(q schema.Query) *where {
	w := newWhere(s.d)
	s.flowFilter(w, "flow", q.Flows)
	if q.FlowRuns != nil || q.TaskRuns != nil {
		runs := newWhere(s.d)
		s.flowRunFilter(runs, "flow_run", q.FlowRuns)
		s.taskRunsOfFlowRun(runs, q.TaskRuns)
		w.sub("flow.id IN (SELECT flow_run.flow_id FROM flow_run WHERE "+runs.sql()+")", runs)
	}
	return w
}

// UpdateFlow changes a flow's tags or labels.
func (s *Store) UpdateFlow(ctx context.Context, id uuid.UUID, u schema.FlowUpdate) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		f, err := scanFlow(c.queryRow(ctx, `SELECT `+flowColumns+` FROM flow WHERE id = ?`+s.d.ForUpdate("flow"), id))
		if err != nil {
			return err
		}
		if u.Tags != nil {
			f.Tags = *u.Tags
		}
		if len(u.Labels) > 0 && string(u.Labels) != "null" {
			f.Labels = u.Labels
		}
		_, err = c.exec(ctx, `UPDATE flow SET tags = ?, labels = ?, updated = ? WHERE id = ?`, mustJSON(nonNil(f.Tags)), f.Labels, s.clock(), id)
		return err
	})
}

// DeleteFlow deletes a flow with its runs.
func (s *Store) DeleteFlow(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := deleteTaskRunsOf(ctx, c, `SELECT id FROM flow_run WHERE flow_id = ?`, id); err != nil {
			return err
		}
		return mustDelete(c.exec(ctx, `DELETE FROM flow WHERE id = ?`, id))
	})
}
