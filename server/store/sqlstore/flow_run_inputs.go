package sqlstore

import (
	"context"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

const flowRunInputColumns = `id, created, updated, flow_run_id, key, value, sender`

func scanFlowRunInput(row scanner) (schema.FlowRunInput, error) {
	var in schema.FlowRunInput
	err := row.Scan(&in.ID, ts(&in.Created), ts(&in.Updated), &in.FlowRunID, &in.Key, &in.Value, nullString{&in.Sender})
	return in, classify(err)
}

// inputTaken is Prefect's answer to a second input under one key.
const inputTaken = "A flow run input with this key already exists."

// CreateFlowRunInput stores an input of an existing run under a free key.
func (s *Store) CreateFlowRunInput(ctx context.Context, in schema.FlowRunInput) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		var n int
		if err := classify(c.queryRow(ctx, `SELECT count(*) FROM flow_run WHERE id = ?`, in.FlowRunID).Scan(&n)); err != nil {
			return err
		}
		if n == 0 {
			return schema.ErrNotFound
		}
		return insertFlowRunInput(ctx, c, in, s.clock())
	})
}

// insertFlowRunInput inserts in unless its run has the key already.
func insertFlowRunInput(ctx context.Context, c conn, in schema.FlowRunInput, now time.Time) error {
	res, err := c.exec(ctx, `INSERT INTO flow_run_input (`+flowRunInputColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (flow_run_id, key) DO NOTHING`, uuid.Must(uuid.NewV7()), now, now, in.FlowRunID, in.Key, in.Value, in.Sender)
	if err != nil {
		return classify(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return &schema.ConflictError{Msg: inputTaken}
	}
	return nil
}

// ReadFlowRunInput returns one input of a run.
func (s *Store) ReadFlowRunInput(ctx context.Context, flowRunID uuid.UUID, key string) (schema.FlowRunInput, error) {
	var out schema.FlowRunInput
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = scanFlowRunInput(c.queryRow(ctx, `SELECT `+flowRunInputColumns+` FROM flow_run_input WHERE flow_run_id = ? AND key = ?`, flowRunID, key))
		return err
	})
	return out, err
}

// FilterFlowRunInputs lists a run's inputs by key prefix, oldest first.
func (s *Store) FilterFlowRunInputs(ctx context.Context, flowRunID uuid.UUID, prefix string, exclude []string, limit int) ([]schema.FlowRunInput, error) {
	w := newWhere(s.d)
	// Qualified: SQLite's json_each, which binds the lists, has a key column too.
	w.add("flow_run_input.flow_run_id = ?", flowRunID)
	w.startsWith("flow_run_input.key", []string{prefix})
	if len(exclude) > 0 {
		w.in("flow_run_input.key", exclude, true)
	}
	var out []schema.FlowRunInput
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = queryAll(ctx, c, scanFlowRunInput, `SELECT `+flowRunInputColumns+` FROM flow_run_input WHERE `+w.sql()+
			` ORDER BY flow_run_input.created, flow_run_input.id LIMIT ?`, append(w.args, limit)...)
		return err
	})
	return nonNil(out), err
}

// DeleteFlowRunInput deletes one input of a run.
func (s *Store) DeleteFlowRunInput(ctx context.Context, flowRunID uuid.UUID, key string) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		return mustDelete(c.exec(ctx, `DELETE FROM flow_run_input WHERE flow_run_id = ? AND key = ?`, flowRunID, key))
	})
}
