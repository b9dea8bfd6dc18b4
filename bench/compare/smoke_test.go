package compare

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"prefectgo.dev/prefectgo/bench/load"
	"prefectgo.dev/prefectgo/bench/report"
)

// TestSmoke runs the harness briefly against our server on SQLite: every
// workload must complete with work done and no error, and the report must
// render. It asserts nothing about speed.
func TestSmoke(t *testing.T) {
	bin, _ := filepath.Abs("../../bin/prefect-server")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("bin/prefect-server is not built (make build)")
	}
	if testing.Short() {
		t.Skip("starts a server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{
		Servers: []string{"ours/sqlite"}, Rounds: 1, Duration: 500 * time.Millisecond, Clients: []int{1, 4},
		IngestClients: 2, ReadClients: 2, SeedRuns: 100, SeedClients: 4, Ceilings: true,
		OursBin: bin, Load: load.DefaultOptions(), Settle: 200 * time.Millisecond, Log: io.Discard,
	}
	r := &report.Report{Date: time.Now(), Settings: map[string]string{}}
	if err := Run(ctx, cfg, r); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"lifecycle": false, "logs": false, "events-http": false, "events-ws": false, "flow_runs/filter": false, "task_runs/filter": false}
	for _, c := range r.Cells {
		want[c.Workload] = true
		if c.Ops == 0 || c.Errors != 0 {
			t.Errorf("%s at %d clients: %d done, %d errors %v", c.Workload, c.Clients, c.Ops, c.Errors, c.ErrorSamples)
		}
		// A lifecycle writes a run and its states: the store was counted doing so.
		if c.Workload == "lifecycle" && (!c.Counted || c.Statements < c.Ops || c.Transactions < c.Ops) {
			t.Errorf("lifecycle at %d clients: %d runs but counted=%v, %d statements, %d transactions", c.Clients, c.Ops, c.Counted, c.Statements, c.Transactions)
		}
	}
	for w, seen := range want {
		if !seen {
			t.Errorf("workload %s did not run", w)
		}
	}
	// SQLite direct writes, loopback HTTP, and the null server at 1 and 4 clients.
	nulls := 0
	for _, c := range r.Ceilings {
		if c.Name == report.NullServer {
			nulls++
			if c.PerSecond == 0 || c.Errors != 0 {
				t.Errorf("null server at %d clients: %.0f runs/s, %d errors", c.Clients, c.PerSecond, c.Errors)
			}
		}
	}
	if len(r.Ceilings) != 4 || nulls != 2 || len(r.Servers) != 2 {
		t.Errorf("%d ceilings (%d null server) and %d server runs, want 4 (2) and 2", len(r.Ceilings), nulls, len(r.Servers))
	}
	var md bytes.Buffer
	report.Markdown(&md, r)
	for _, section := range []string{"## Workloads on SQLite", "## Headline: the lifecycle at", "## The bar (performance, second round)"} {
		if !strings.Contains(md.String(), section) {
			t.Errorf("report has no %q:\n%s", section, md.String())
		}
	}
}
