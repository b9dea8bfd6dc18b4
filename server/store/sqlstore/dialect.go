package sqlstore

import (
	"strconv"
	"strings"
)

// Dialect is what differs between SQLite and PostgreSQL.
type Dialect struct {
	// Name is "sqlite" or "postgresql".
	Name string
	// Numbered rewrites `?` placeholders to $1, $2 ... (PostgreSQL).
	Numbered bool
	// TextTimes stores timestamps as fixed-width UTC text, which sorts and
	// compares correctly as text (SQLite has no timestamp type).
	TextTimes bool
	// ForUpdate is appended to a SELECT that must lock the rows it reads of
	// table; SQLite has one writer, so the lock is implicit there.
	ForUpdate func(table string) string
	// TagsAll renders "column holds all of these tags", given the column and
	// a placeholder bound to a JSON array.
	TagsAll func(col string) string
	// TagsAny renders "column holds any of these tags".
	TagsAny func(col string) string
	// JSONMerge renders "col with the keys of the bound JSON object merged in".
	JSONMerge func(col string) string
}

// SQLite is the dialect of the embedded default.
var SQLite = Dialect{
	Name:      "sqlite",
	TextTimes: true,
	ForUpdate: func(string) string { return "" },
	TagsAll: func(col string) string {
		return "NOT EXISTS (SELECT 1 FROM json_each(?) w WHERE w.value NOT IN (SELECT t.value FROM json_each(" + col + ") t))"
	},
	TagsAny: func(col string) string {
		return "EXISTS (SELECT 1 FROM json_each(" + col + ") t WHERE t.value IN (SELECT w.value FROM json_each(?) w))"
	},
	JSONMerge: func(col string) string { return "json_patch(" + col + ", ?)" },
}

// PostgreSQL is the dialect for several replicas on one database.
var PostgreSQL = Dialect{
	Name:      "postgresql",
	Numbered:  true,
	ForUpdate: func(table string) string { return " FOR UPDATE OF " + table },
	TagsAll:   func(col string) string { return col + " @> ?::jsonb" },
	TagsAny: func(col string) string {
		return "EXISTS (SELECT 1 FROM jsonb_array_elements(?::jsonb) w WHERE " + col + " @> jsonb_build_array(w))"
	},
	JSONMerge: func(col string) string { return col + " || ?::jsonb" },
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
