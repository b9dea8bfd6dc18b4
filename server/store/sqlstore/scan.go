package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Scanners that read a column the same way from either backend: SQLite hands
// back text where PostgreSQL hands back typed values.

// timeCol scans a nullable timestamp.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		*c.t = x.UTC()
	case string:
		return c.parse(x)
	case []byte:
		return c.parse(string(x))
	default:
		return fmt.Errorf("cannot scan %T into a time", v)
	}
	return nil
}

func (c timeCol) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*c.t = t.UTC()
	return nil
}

// ts scans a NOT NULL timestamp into t.
func ts(t *time.Time) sql.Scanner { return timeCol{t} }

// nullTime scans a nullable timestamp into *p (nil for NULL).
type nullTime struct{ p **time.Time }

func (n nullTime) Scan(v any) error {
	if v == nil {
		*n.p = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(v); err != nil {
		return err
	}
	*n.p = &t
	return nil
}

// nullUUID scans a nullable UUID into *p.
type nullUUID struct{ p **uuid.UUID }

func (n nullUUID) Scan(v any) error {
	var u uuid.NullUUID
	if err := u.Scan(v); err != nil {
		return err
	}
	if !u.Valid {
		*n.p = nil
		return nil
	}
	id := u.UUID
	*n.p = &id
	return nil
}

// nullString scans a nullable text column into *p.
type nullString struct{ p **string }

func (n nullString) Scan(v any) error {
	var s sql.NullString
	if err := s.Scan(v); err != nil {
		return err
	}
	if !s.Valid {
		*n.p = nil
		return nil
	}
	str := s.String
	*n.p = &str
	return nil
}

// jsonCol scans JSON text into raw bytes (nil for NULL).
type jsonCol struct{ p *json.RawMessage }

func (j jsonCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*j.p = nil
	case string:
		*j.p = json.RawMessage(x)
	case []byte:
		*j.p = append(json.RawMessage(nil), x...)
	default:
		return fmt.Errorf("cannot scan %T into JSON", v)
	}
	return nil
}

// jsonInto scans a JSON column and decodes it into dst.
type jsonInto struct{ dst any }

func (j jsonInto) Scan(v any) error {
	var raw json.RawMessage
	if err := (jsonCol{&raw}).Scan(v); err != nil {
		return err
	}
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, j.dst)
}

// idsOf runs a query that selects one UUID column and returns the ids.
func idsOf(ctx context.Context, c conn, q string, args ...any) ([]uuid.UUID, error) {
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, classify(err)
		}
		out = append(out, id)
	}
	return out, classify(rows.Err())
}

// queryAll runs a query and turns every row into a T with scan.
func queryAll[T any](ctx context.Context, c conn, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, classify(rows.Err())
}

type scanner interface{ Scan(...any) error }

// nullInt scans a nullable integer into *p.
type nullInt struct{ p **int }

func (n nullInt) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n.p = nil
	case int64:
		i := int(x)
		*n.p = &i
	case int32:
		i := int(x)
		*n.p = &i
	case float64:
		i := int(x)
		*n.p = &i
	default:
		var i int64
		if err := convertInt(v, &i); err != nil {
			return err
		}
		ii := int(i)
		*n.p = &ii
	}
	return nil
}

func convertInt(v any, dst *int64) error {
	switch x := v.(type) {
	case []byte:
		return json.Unmarshal(x, dst)
	case string:
		return json.Unmarshal([]byte(x), dst)
	}
	return errors.New("cannot scan into an integer")
}
