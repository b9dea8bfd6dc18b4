package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// stateColumns reads a state joined by the alias st; every column may be
// NULL because runs are joined to their current state with a LEFT JOIN.
const stateColumns = `st.id, st.type, st.name, st.timestamp, st.message, st.data, st.state_details`

// stateScan collects a joined state's columns.
type stateScan struct {
	id      *uuid.UUID
	typ     *string
	name    *string
	ts      *time.Time
	message *string
	data    json.RawMessage
	details json.RawMessage
}

func (x *stateScan) dest() []any {
	return []any{nullUUID{&x.id}, nullString{&x.typ}, nullString{&x.name}, nullTime{&x.ts},
		nullString{&x.message}, jsonCol{&x.data}, jsonCol{&x.details}}
}

func (x *stateScan) state() (*schema.State, error) {
	if x.id == nil {
		return nil, nil
	}
	st := &schema.State{ID: *x.id, Type: schema.StateType(deref(x.typ)), Name: deref(x.name), Message: x.message}
	if x.ts != nil {
		st.Timestamp = *x.ts
	}
	if len(x.data) > 0 && string(x.data) != "null" {
		d := x.data
		st.Data = &d
	}
	if len(x.details) > 0 {
		if err := json.Unmarshal(x.details, &st.StateDetails); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func scanState(row scanner) (schema.State, error) {
	var x stateScan
	if err := row.Scan(x.dest()...); err != nil {
		return schema.State{}, classify(err)
	}
	st, err := x.state()
	if err != nil || st == nil {
		return schema.State{}, err
	}
	return *st, nil
}

// insertState writes a state row of a run in table (flow_run_state or
// task_run_state), moving its timestamp on by a microsecond while it collides
// with another state of the run (Prefect's
// EnsureFlowRunStateTimestampIsUnique), and returns the state as written.
func insertState(ctx context.Context, c conn, table, runCol string, runID uuid.UUID, st schema.State, now time.Time) (schema.State, error) {
	for {
		// One statement in the usual case, where no state of the run has
		// this timestamp: the unique index on (run, timestamp) finds one.
		res, err := c.exec(ctx, `INSERT INTO `+table+` (id, created, updated, `+runCol+`, type, name, timestamp, message, state_details, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (`+runCol+`, timestamp) DO NOTHING`,
			st.ID, now, now, runID, st.Type, st.Name, st.Timestamp, st.Message, mustJSON(st.StateDetails), st.Data)
		if err != nil {
			return st, err
		}
		if affected(res) > 0 {
			return st, nil
		}
		if !st.Timestamp.Before(schema.MaxDateTime) {
			// The next microsecond is year 10000, which no client could read back.
			return st, schema.Invalid("state.timestamp", "Input should be a valid datetime, the run already has a state at "+
				schema.MaxDateTime.Format(time.RFC3339Nano)+" and no later time can be stored")
		}
		st.Timestamp = st.Timestamp.Add(time.Microsecond)
	}
}

func (s *Store) readStates(ctx context.Context, table, runCol string, runID uuid.UUID) ([]schema.State, error) {
	var out []schema.State
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, scanState, `SELECT `+stateColumns+` FROM `+table+` st WHERE st.`+runCol+` = ? ORDER BY st.timestamp ASC`, runID)
		return err
	})
	return nonNil(out), err
}

func (s *Store) readState(ctx context.Context, table string, id uuid.UUID) (schema.State, error) {
	var st schema.State
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		st, err = scanState(c.queryRow(ctx, `SELECT `+stateColumns+` FROM `+table+` st WHERE st.id = ?`, id))
		return err
	})
	return st, err
}
