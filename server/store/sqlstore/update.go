package sqlstore

import (
	"context"
	"database/sql"
	"reflect"
	"strings"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// update builds a partial UPDATE: the columns a request sets, and no others.
type update struct {
	cols []string
	args []any
}

func (u *update) set(col string, v any) {
	u.cols = append(u.cols, col+" = ?")
	u.args = append(u.args, v)
}

// setChanged sets col to now unless it holds was's value: SQLite rewrites
// every index on a column an UPDATE sets, even to its old value (EXPLAIN
// shows an IdxDelete and an IdxInsert for each), and the runs' bookkeeping
// columns are indexed. Times compare as instants, the rest as
// reflect.DeepEqual does.
func (u *update) setChanged(col string, was, now any) {
	wt, wasTime := was.(*time.Time)
	nt, nowTime := now.(*time.Time)
	if wasTime && nowTime && sameTime(wt, nt) || !wasTime && reflect.DeepEqual(was, now) {
		return
	}
	u.set(col, now)
}

// sameTime reports whether a and b are both nil or the same instant.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// runStateColumns are a run's columns that repeat its current state, last in
// each run table's insert columns; runStateValues fills them.
const runStateColumns = "state_id, state_type, state_name, state_timestamp"

// runStateValues are st's values of runStateColumns, nulls without a state.
func runStateValues(st *schema.State) []any {
	if st == nil {
		return []any{nil, nil, nil, nil}
	}
	return []any{st.ID, st.Type, st.Name, st.Timestamp}
}

// setState sets runStateColumns to st's values.
func (u *update) setState(st *schema.State) {
	vals := runStateValues(st)
	for i, col := range strings.Split(runStateColumns, ", ") {
		u.set(col, vals[i])
	}
}

// empty says nothing is set.
func (u *update) empty() bool { return len(u.cols) == 0 }

// exec runs UPDATE table SET ... WHERE cond, cond's placeholders bound to args.
func (u *update) exec(ctx context.Context, c conn, table, cond string, args ...any) (sql.Result, error) {
	return c.exec(ctx, "UPDATE "+table+" SET "+strings.Join(u.cols, ", ")+" WHERE "+cond, append(u.args, args...)...)
}
