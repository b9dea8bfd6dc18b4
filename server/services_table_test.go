package server

import (
	"slices"
	"testing"

	"prefectgo.dev/prefectgo/server/settings"
)

// TestServiceTable checks the table's rows are well formed: each service
// once, a loop with its interval or an event-driven service, never both.
func TestServiceTable(t *testing.T) {
	seen := map[string]bool{}
	for _, sp := range serviceTable {
		if seen[sp.name] {
			t.Errorf("%s is listed twice", sp.name)
		}
		seen[sp.name] = true
		if sp.enabled == nil {
			t.Errorf("%s has no enabled check", sp.name)
		}
		if (sp.build == nil) == (sp.pass == nil) {
			t.Errorf("%s must have exactly one of build and pass", sp.name)
		}
		if (sp.pass == nil) != (sp.every == nil) {
			t.Errorf("%s: a loop (pass) needs its interval (every), and only a loop has one", sp.name)
		}
	}
}

// TestServiceTableDefaults pins which services the default settings run on
// a single SQLite server, and which of them are singletons.
func TestServiceTableDefaults(t *testing.T) {
	w := &wiring{s: settings.Defaults()} // no fan-out: SQLite
	var replica, leader []string
	for _, sp := range serviceTable {
		switch {
		case !sp.enabled(w):
		case sp.leader:
			leader = append(leader, sp.name)
		default:
			replica = append(replica, sp.name)
		}
	}
	if want := []string{"event-persister", "task-run-recorder", "task-worker-poll"}; !slices.Equal(replica, want) {
		t.Errorf("per-replica services = %v, want %v", replica, want)
	}
	wantLeader := []string{"retention", "repossessor", "late-runs", "pause-expirations",
		"cancellation-cleanup", "foreman", "scheduler", "scheduler-recent-deployments", "triggers"}
	if !slices.Equal(leader, wantLeader) {
		t.Errorf("singleton services = %v, want %v", leader, wantLeader)
	}
	// The fan-out runs on every replica whenever it exists (PostgreSQL).
	i := slices.IndexFunc(serviceTable, func(sp serviceSpec) bool { return sp.name == "event-fanout" })
	if i < 0 || serviceTable[i].leader || serviceTable[i].enabled(w) {
		t.Errorf("event-fanout must be a per-replica service, off without a fan-out")
	}
}
