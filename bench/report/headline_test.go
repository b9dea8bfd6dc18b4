package report

import (
	"strings"
	"testing"
	"time"
)

// Each target of the second round passes or fails from the numbers given,
// and one not measured says so.
func TestSecondRoundChecks(t *testing.T) {
	const mib = 1 << 20
	cell := func(server, backend string, clients int, ops int64, p99 time.Duration, cpu float64, errs, peak int64) Cell {
		impl, _, _ := strings.Cut(server, "/")
		return Cell{Server: server, Impl: impl, Backend: backend, Workload: "lifecycle", Unit: "runs", Clients: clients, Round: 1,
			Ops: ops, Elapsed: time.Second, P99: p99, CPUSecs: cpu, Errors: errs, PeakRSS: peak, Counted: impl == "ours", Statements: 20 * ops, Transactions: 5 * ops}
	}
	r := &Report{
		Cells: []Cell{
			cell("ours/sqlite", "sqlite", 16, 1200, 10*time.Millisecond, 1.2, 0, 80*mib), // 1 ms CPU a lifecycle
			cell("ours/postgres", "postgres", 16, 700, 20*time.Millisecond, 1, 0, 80*mib),
			cell("python/postgres", "postgres", 16, 10, time.Second, 1, 0, 200*mib),
			cell("ours/sqlite", "sqlite", 64, 1000, 50*time.Millisecond, 1, 0, 90*mib),
			cell("ours/postgres", "postgres", 64, 600, 50*time.Millisecond, 1, 0, 120*mib),
		},
		Servers: []ServerRun{
			{Server: "ours/sqlite", Impl: "ours", Backend: "sqlite", IdleRSS: 22 * mib},
			{Server: "ours/postgres", Impl: "ours", Backend: "postgres", IdleRSS: 25 * mib},
		},
	}
	var out strings.Builder
	secondRound(&out, r, Aggregate(r.Cells))
	want := map[string]string{
		"SQLite lifecycles/s, 16 clients":                        "pass",
		"SQLite p99 request latency, 16 clients":                 "pass",
		"SQLite server CPU per lifecycle, 16 clients":            "pass",
		"SQLite errors, 16 clients":                              "pass",
		"PostgreSQL lifecycles/s, 16 clients":                    "fail",
		"PostgreSQL, ours over Python on PostgreSQL, 16 clients": "pass",
		"SQLite peak RSS, 64-client lifecycle":                   "pass",
		"PostgreSQL peak RSS, 64-client lifecycle":               "fail",
		"SQLite idle RSS unchanged":                              "pass",
		"PostgreSQL idle RSS unchanged":                          "fail",
	}
	rows := 0
	for _, line := range strings.Split(out.String(), "\n") {
		cols := strings.Split(line, " | ")
		if len(cols) != 4 {
			continue
		}
		what := strings.TrimPrefix(cols[0], "| ")
		result, ok := want[what]
		if !ok {
			continue
		}
		rows++
		if got := strings.Trim(cols[3], "*| "); got != result {
			t.Errorf("%s: %s, want %s (%s)", what, got, result, line)
		}
	}
	if rows != len(want) {
		t.Errorf("%d of the %d checks found in:\n%s", rows, len(want), out.String())
	}
	if !strings.Contains(out.String(), "7 of 10 pass") {
		t.Errorf("no summary of 7 passes out of 10:\n%s", out.String())
	}

	// Without Python on PostgreSQL, that check is not measured, not failed.
	r.Cells = r.Cells[:2]
	out.Reset()
	secondRound(&out, r, Aggregate(r.Cells))
	if !strings.Contains(out.String(), "| PostgreSQL, ours over Python on PostgreSQL, 16 clients | ≥ 50x | - | not measured |") {
		t.Errorf("the Python ratio is not 'not measured':\n%s", out.String())
	}
}
