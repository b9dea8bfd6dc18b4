package sqlstore

import (
	"context"
	"database/sql"
	"strings"
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

// empty says nothing is set.
func (u *update) empty() bool { return len(u.cols) == 0 }

// exec runs UPDATE table SET ... WHERE cond, cond's placeholders bound to args.
func (u *update) exec(ctx context.Context, c conn, table, cond string, args ...any) (sql.Result, error) {
	return c.exec(ctx, "UPDATE "+table+" SET "+strings.Join(u.cols, ", ")+" WHERE "+cond, append(u.args, args...)...)
}
