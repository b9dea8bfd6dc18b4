package storetest

import (
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSchemaParity checks that the two dialects' migrations, run as the
// store runs them, end with the same tables and columns, each with the same
// nullability and an equivalent type: shared SQL written against one
// backend's schema must find the same schema on the other.
func TestSchemaParity(t *testing.T) {
	t.Parallel()
	pgURL := NewPostgresDatabase(t) // skips without PostgreSQL
	openPostgres(t, pgURL)
	path := filepath.Join(t.TempDir(), "prefect.db")
	openSQLite(t, path)

	// sqlite_* tables are SQLite's own (sqlite_sequence, sqlite_stat1), not
	// the migrations'. table_xinfo, not table_info: PostgreSQL lists
	// generated columns too. A PRIMARY KEY column is NOT NULL as declared,
	// as on PostgreSQL; SQLite only fails to enforce it for legacy reasons.
	lite := readSchema(t, "sqlite", "file:"+path+"?mode=ro", `
		SELECT m.name, c.name, c.type, c."notnull" OR c.pk > 0
		FROM sqlite_schema m, pragma_table_xinfo(m.name) c
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	pg := readSchema(t, "pgx", pgURL, `
		SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'NO'
		FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE'`)
	require.NotEmpty(t, lite, "no tables read from SQLite")
	require.NotEmpty(t, pg, "no tables read from PostgreSQL")
	for _, d := range schemaDiffs(lite, pg) {
		t.Error(d)
	}
}

// sqliteType is the SQLite type standing for each PostgreSQL type: SQLite
// has no uuid, timestamp, JSON or boolean types, so the store keeps ids,
// times and documents as text and booleans as integers. A PostgreSQL type
// missing here fails the test until it is added.
var sqliteType = map[string]string{
	"text": "TEXT", "uuid": "TEXT", "timestamp with time zone": "TEXT", "jsonb": "TEXT",
	"integer": "INTEGER", "bigint": "INTEGER", "boolean": "INTEGER",
	"double precision": "REAL",
}

// column is one column as its backend names its type.
type column struct {
	typ     string
	notNull bool
}

func (c column) String() string {
	if c.notNull {
		return c.typ + " NOT NULL"
	}
	return c.typ + " NULL"
}

// readSchema runs query, which yields (table, column, type, not null), and
// returns its columns by table.
func readSchema(t *testing.T, driver, dsn, query string) map[string]map[string]column {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(query)
	require.NoError(t, err)
	defer rows.Close()
	tables := map[string]map[string]column{}
	for rows.Next() {
		var table, name string
		var c column
		require.NoError(t, rows.Scan(&table, &name, &c.typ, &c.notNull))
		if tables[table] == nil {
			tables[table] = map[string]column{}
		}
		tables[table][name] = c
	}
	require.NoError(t, rows.Err())
	return tables
}

// schemaDiffs lists, in order, every table and column one backend lacks and
// every column whose type or nullability differs.
func schemaDiffs(lite, pg map[string]map[string]column) []string {
	var diffs []string
	for _, table := range unionKeys(lite, pg) {
		lc, inLite := lite[table]
		pc, inPG := pg[table]
		if !inLite || !inPG {
			diffs = append(diffs, fmt.Sprintf("table %s is missing on %s", table, lacking(inLite)))
			continue
		}
		for _, name := range unionKeys(lc, pc) {
			l, inLite := lc[name]
			p, inPG := pc[name]
			switch {
			case !inLite || !inPG:
				diffs = append(diffs, fmt.Sprintf("column %s.%s is missing on %s", table, name, lacking(inLite)))
			case strings.ToUpper(l.typ) != sqliteType[p.typ] || l.notNull != p.notNull:
				diffs = append(diffs, fmt.Sprintf("column %s.%s is %s on sqlite but %s on postgres", table, name, l, p))
			}
		}
	}
	return diffs
}

// lacking names the backend without a table or column, given whether
// SQLite has it.
func lacking(inSQLite bool) string {
	if inSQLite {
		return "postgres"
	}
	return "sqlite"
}

// unionKeys returns the keys of a and b, sorted.
func unionKeys[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
