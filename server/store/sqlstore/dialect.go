package sqlstore

import (
	"strconv"
	"strings"
)

// Dialect is what differs between SQLite and PostgreSQL: every difference
// is a field here, so the queries never ask which backend they run on.
type Dialect struct {
	// Name is "sqlite" or "postgresql".
	Name string
	// Numbered rewrites `?` placeholders to $1, $2 ... (PostgreSQL).
	Numbered bool
	// TextTimes stores timestamps as fixed-width UTC text, which sorts and
	// compares correctly as text (SQLite has no timestamp type).
	TextTimes bool
	// UUIDBytes binds UUIDs as their 16 bytes, for a database with a uuid
	// type (PostgreSQL): bound through their text, pgx parsed each back,
	// a tenth of the server's CPU.
	UUIDBytes bool
	// Notifies says the database carries notifications (LISTEN/NOTIFY).
	Notifies bool
	// LikeLimited says LIKE refuses long patterns (SQLite): a pattern
	// without wildcards is then matched without LIKE, at any length.
	LikeLimited bool
	// ForUpdate is appended to a SELECT that must lock the rows it reads of
	// table; SQLite has one writer, so the lock is implicit there.
	ForUpdate func(table string) string
	// SkipLocked follows ForUpdate where a reader takes any free row of a
	// queue rather than waiting for a locked one.
	SkipLocked string
	// Limitless is the LIMIT clause that must precede an OFFSET without one.
	Limitless string
	// TagsAll renders "column holds all of these tags", given the column and
	// a placeholder bound to a JSON array.
	TagsAll func(col string) string
	// TagsAny renders "column holds any of these tags".
	TagsAny func(col string) string
	// JSONMerge renders "col with the keys of the bound JSON object merged in".
	JSONMerge func(col string) string
	// EmptyArray renders "the JSON array col is empty".
	EmptyArray func(col string) string
	// JSONText renders the text of one key of the JSON column col, NULL when
	// absent; the key is bound to its placeholder as JSONKey makes it.
	JSONText func(col string) string
	JSONKey  func(key string) string
	// JSONRows renders a FROM item over the elements of a bound JSON array,
	// each alias.value.
	JSONRows func(alias string) string
	// ListArg binds a list of strings as one parameter, so no list runs into
	// the backends' limits on bound parameters.
	ListArg func(vals []string) any
	// ListRows renders a FROM item over the values of a list parameter, with
	// one column, alias.value.
	ListRows func(alias string) string
	// InList renders "col is (not) one of the list parameter's values"; uuids
	// says col is a UUID column (PostgreSQL compares it as one).
	InList func(col string, uuids, not bool) string
	// ILike renders Prefect's ILIKE: col against the SQL pattern, case
	// insensitive, with no escape character.
	ILike func(col, pattern string) string
	// AsText renders a UUID or JSON column as text.
	AsText func(col string) string
	// Contains renders "the text hay contains the bound text".
	Contains func(hay string) string
	// Seconds renders the fractional seconds from timestamp b to timestamp a;
	// each is a column or TimeArg.
	Seconds func(a, b string) string
	// TimeArg is a bound timestamp inside an expression, where PostgreSQL
	// cannot infer the parameter's type.
	TimeArg string
	// GroupCommit: the backend has one writer, so write transactions are
	// committed in groups (group.go) rather than each on its own.
	GroupCommit bool
}

// SQLite is the dialect of the embedded default.
var SQLite = Dialect{
	Name:        "sqlite",
	TextTimes:   true,
	LikeLimited: true,
	ForUpdate:   func(string) string { return "" },
	Limitless:   " LIMIT -1",
	TagsAll: func(col string) string {
		return "NOT EXISTS (SELECT 1 FROM json_each(?) w WHERE w.value NOT IN (SELECT t.value FROM json_each(" + col + ") t))"
	},
	TagsAny: func(col string) string {
		return "EXISTS (SELECT 1 FROM json_each(" + col + ") t WHERE t.value IN (SELECT w.value FROM json_each(?) w))"
	},
	JSONMerge:  func(col string) string { return "json_patch(" + col + ", ?)" },
	EmptyArray: func(col string) string { return "json_array_length(" + col + ") = 0" },
	JSONText:   func(col string) string { return "json_extract(" + col + ", ?)" },
	JSONKey:    func(key string) string { return `$."` + strings.ReplaceAll(key, `"`, `\"`) + `"` },
	JSONRows:   func(alias string) string { return "json_each(?) " + alias },
	ListArg:    func(vals []string) any { return string(mustJSON(vals)) },
	ListRows:   func(alias string) string { return "json_each(?) " + alias },
	InList: func(col string, _, not bool) string {
		if not {
			return col + " NOT IN (SELECT value FROM json_each(?))"
		}
		return col + " IN (SELECT value FROM json_each(?))"
	},
	ILike:    func(col, pattern string) string { return col + " LIKE " + pattern },
	AsText:   func(col string) string { return col },
	Contains: func(hay string) string { return "instr(" + hay + ", ?) > 0" },
	// julianday keeps milliseconds; rounding to them, as Prefect does for its
	// history buckets, keeps its float error off the bucket boundaries.
	Seconds:     func(a, b string) string { return "round((julianday(" + a + ") - julianday(" + b + ")) * 86400.0, 3)" },
	TimeArg:     "?",
	GroupCommit: true,
}

// PostgreSQL is the dialect for several replicas on one database.
var PostgreSQL = Dialect{
	Name:      "postgresql",
	Numbered:  true,
	UUIDBytes: true,
	Notifies:  true,
	ForUpdate: func(table string) string { return " FOR UPDATE OF " + table },
	TagsAll:   func(col string) string { return col + " @> ?::jsonb" },
	TagsAny: func(col string) string {
		return "EXISTS (SELECT 1 FROM jsonb_array_elements(?::jsonb) w WHERE " + col + " @> jsonb_build_array(w))"
	},
	JSONMerge:  func(col string) string { return col + " || ?::jsonb" },
	EmptyArray: func(col string) string { return col + " = '[]'::jsonb" },
	JSONText:   func(col string) string { return "(" + col + " ->> CAST(? AS TEXT))" },
	JSONKey:    func(key string) string { return key },
	JSONRows:   func(alias string) string { return "jsonb_array_elements(CAST(? AS jsonb)) " + alias },
	ListArg:    func(vals []string) any { return vals },
	ListRows:   func(alias string) string { return "unnest(CAST(? AS text[])) AS " + alias + "(value)" },
	InList: func(col string, uuids, not bool) string {
		typ := "text[]"
		if uuids {
			typ = "uuid[]"
		}
		if not {
			return col + " <> ALL(CAST(? AS " + typ + "))"
		}
		return col + " = ANY(CAST(? AS " + typ + "))"
	},
	ILike:    func(col, pattern string) string { return col + " ILIKE " + pattern + " ESCAPE ''" },
	AsText:   func(col string) string { return col + "::text" },
	Contains: func(hay string) string { return "strpos(" + hay + ", ?) > 0" },
	Seconds: func(a, b string) string {
		return "CAST(EXTRACT(EPOCH FROM (" + a + ") - (" + b + ")) AS DOUBLE PRECISION)"
	},
	TimeArg:    "CAST(? AS timestamptz)",
	SkipLocked: " SKIP LOCKED",
}

// rebind turns `?` placeholders into the dialect's form. A `?` inside a
// quoted string is left alone.
func (d Dialect) rebind(q string) string {
	if !d.Numbered {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
