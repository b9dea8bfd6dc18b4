package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"iter"
	"math/bits"
	"strings"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// The small helpers that queries in every domain file share: binding
// values, placeholders, results and ordering.

// insertChunk bounds the rows of one multi-row INSERT, well under both
// backends' limits on bound parameters (SQLite 32766, PostgreSQL 65535).
const insertChunk = 256

// rowChunks splits the rows of a multi-row INSERT into runs whose lengths are
// powers of two, at most insertChunk, longest first. A statement's text
// depends on its number of rows, and the connections cache statements by
// text: with a text for every batch size, the cached inserts of a busy server
// took tens of megabytes; this way each insert has at most nine texts.
func rowChunks[T any](rows []T) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for len(rows) > 0 {
			n := min(insertChunk, 1<<(bits.Len(uint(len(rows)))-1))
			if !yield(rows[:n:n]) {
				return
			}
			rows = rows[n:]
		}
	}
}

// valuesRows renders n parenthesised rows of width placeholders, for a multi-row VALUES.
func valuesRows(n, width int) string {
	row := "(" + placeholders(width) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// row is one row's values as the backend stores them (conn.args), converted
// as a batch's rows are built before its transaction: on SQLite, outside the
// one writer, whose time is the server's ceiling.
func (s *Store) row(vals ...any) []any {
	c := conn{d: s.d}
	for i, v := range vals {
		vals[i] = c.arg(v)
	}
	return vals
}

// rowArgs binds rows' values in order, for a multi-row VALUES.
func rowArgs(rows [][]any) []any {
	args := make([]any, 0, len(rows)*len(rows[0]))
	for _, row := range rows {
		args = append(args, row...)
	}
	return args
}

// placeholders is n comma-separated placeholders, for an IN list.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// anyArgs binds each value as a parameter of its own.
func anyArgs[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// texts converts a list of a string type.
func texts[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// uuidTexts is the text form of each id, for a list parameter.
func uuidTexts(vs []uuid.UUID) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

// mustJSON encodes a value the server built itself.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sqlstore: encoding %T: %v", v, err))
	}
	return b
}

// jsonArray joins encoded values into a JSON array, so that values also
// stored on their own are encoded once.
func jsonArray(items []json.RawMessage) json.RawMessage {
	n := 2
	for _, it := range items {
		n += len(it) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, it := range items {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, it...)
	}
	return append(out, ']')
}

// nonNil makes a nil slice empty, which encodes as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// deref is the value p points at, or the zero value.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// orEmpty binds an absent or null JSON object as {}.
func orEmpty(raw []byte) any {
	if len(raw) == 0 || string(raw) == "null" {
		return "{}"
	}
	return string(raw)
}

// nullJSON binds an absent or null JSON value as SQL NULL.
func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

// isEmptyObject says raw is absent, null or {}.
func isEmptyObject(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return t == "" || t == "null" || strings.ReplaceAll(t, " ", "") == "{}"
}

// jsonString quotes s as JSON does, as Prefect's messages show values.
func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// count runs a count(*) query on the reader.
func (s *Store) count(ctx context.Context, q string, args []any) (int, error) {
	if err := refused(args); err != nil {
		return 0, err
	}
	var n int
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		return classify(c.queryRow(ctx, q, args...).Scan(&n))
	})
	return n, err
}

// mustDelete turns "no row deleted" into ErrNotFound.
func mustDelete(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return schema.ErrNotFound
	}
	return nil
}

// affected is how many rows r changed (0 when the driver cannot say).
func affected(r sql.Result) int {
	n, err := r.RowsAffected()
	if err != nil {
		return 0
	}
	return int(n)
}

// lockRow locks the row of table with this id for the transaction
// (schema.ErrNotFound when there is none). A caller that must see the row's
// current state joined to other tables reads it in a later statement: on
// PostgreSQL, a locking SELECT that had to wait for another transaction
// re-checks only the locked table's new row and keeps the joined rows of its
// older snapshot, and in READ COMMITTED each new statement sees what was
// committed before it. SQLite has one writer, so it locks nothing.
func (s *Store) lockRow(ctx context.Context, c conn, table string, id uuid.UUID) error {
	lock := s.d.ForUpdate(table)
	if lock == "" {
		return nil
	}
	var got uuid.UUID
	return classify(c.queryRow(ctx, `SELECT id FROM `+table+` WHERE id = ?`+lock, id).Scan(&got))
}

// sortClause is the ORDER BY of a Prefect sort key, or a 422 naming the key.
func sortClause(sorts map[string]string, key string) (string, error) {
	o, ok := sorts[key]
	if !ok {
		return "", schema.Invalid("sort", "Input should be one of the supported sort values, got "+jsonString(key))
	}
	return o, nil
}

// countsByID runs a query of (id, count) rows on the reader, as a map.
func (s *Store) countsByID(ctx context.Context, q string, args ...any) (map[uuid.UUID]int, error) {
	out := map[uuid.UUID]int{}
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		rows, err := c.query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return classify(err)
			}
			out[id] = n
		}
		return classify(rows.Err())
	})
	return out, err
}
