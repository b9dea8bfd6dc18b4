// Package builders turns a PrefectServer into the Kubernetes objects that run
// it: the server Deployment and its Service, the SQLite volume, the PostgreSQL
// migration Job, and the retention and scheduling CronJobs.
//
// Every function here is pure: spec in, desired object out, with no client,
// no scheme and no clock. Each object carries its TypeMeta, so the reconciler
// can apply it with server-side apply as it is; the reconciler adds owner
// references. One file per kind.
//
// The server container's environment comes from the settings table
// (server/settings): each spec field names its row in a `setting` struct tag,
// and ServerEnv writes the row's variable. A test walks the table and fails
// on any row that is neither in the spec nor on the exemption list in
// settings.go, and another starts the real server binary with the rendered
// container and checks that it runs with exactly the intended settings.
package builders
