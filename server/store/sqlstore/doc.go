// Package sqlstore implements store.Store over database/sql for both
// backends. The SQL is written once with `?` placeholders; a Dialect turns it
// into each backend's form and supplies the few fragments that differ (JSON
// list matching, row locks). The sqlite and postgres packages open the
// connections, hold the migrations and pick the dialect.
package sqlstore
