// Package settings is the server's configuration: one table (Table) with a
// row for every setting, and the typed Settings struct it fills.
//
// The table is the single source of truth. Each row carries the Prefect
// environment variable, the legacy aliases Python Prefect still accepts, the
// default as a user would write it, the kind (which decides parsing and
// printing), the validation and a one-line doc. Everything else derives from
// it: Load reads the environment through it, Print shows the effective values,
// MarkdownReference writes the docs, and the operator walks it to build the
// CRD and the container environment. A setting added anywhere else would drift,
// so the tests fail when a Settings field has no row or a row no field.
//
// Names and defaults are Prefect's (src/prefect/settings/models/server), so a
// Prefect user's environment works unchanged; the few settings of our own
// have Extension set.
package settings
