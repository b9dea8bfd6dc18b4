package report

import (
	"fmt"
	"io"
)

// headline is the lifecycle at BarClients clients, every server side by side:
// throughput and latency, the server's CPU and SQL per lifecycle, and how far
// it is from the null server and its backend's direct-write ceiling.
func headline(w io.Writer, r *Report, aggs []Agg) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## Headline: the lifecycle at %d clients\n\n", BarClients)
	p("Python on PostgreSQL is the fair peer")
	if py, ok := Find(aggs, "python/sqlite", "lifecycle", BarClients); ok && py.Errors > 0 {
		p(": on SQLite Python's server failed %d requests of this lifecycle in this run (see the errors below), so a ratio against it flatters us", py.Errors)
	}
	p(".\n\n")
	p("| server | lifecycles/s | p99 | errors | CPU ms/lifecycle | SQL statements/lifecycle | write txns/lifecycle | of null server | of direct-write ceiling | peak RSS |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	rows := 0
	for _, server := range []string{"ours/sqlite", "ours/postgres", "python/postgres", "python/sqlite"} {
		a, ok := Find(aggs, server, "lifecycle", BarClients)
		if !ok {
			continue
		}
		rows++
		stmts, txns := "-", "-"
		if a.Counted {
			stmts, txns = fmt.Sprintf("%.1f", a.StatementsPerOp), fmt.Sprintf("%.1f", a.TransactionsPerOp)
		}
		p("| %s | %s | %s | %d | %.2f | %s | %s | %s | %s | %s |\n", server, num(a.Throughput), ms(a.P99), a.Errors, 1000*a.CPUPerOp,
			stmts, txns, ofNull(r, a), ofCeiling(r, aggs, a), bytes(a.PeakRSS))
	}
	if rows == 0 {
		p("| not measured in this run | | | | | | | | | |\n")
	}
	ours, okO := Find(aggs, "ours/postgres", "lifecycle", BarClients)
	py, okP := Find(aggs, "python/postgres", "lifecycle", BarClients)
	if okO && okP && py.Throughput > 0 {
		p("\nOn PostgreSQL we complete **%.1fx** Python's lifecycles per second, for %.1fx less server CPU per lifecycle.\n",
			ours.Throughput/py.Throughput, py.CPUPerOp/ours.CPUPerOp)
	}
	p("\n")
}

// check is one target of the second round and how the run fared.
type check struct {
	what, target, measured string
	ok, measuredOK         bool
}

// secondRound is the issue "Performance, second round"'s targets, each
// passing or failing from this run's numbers.
func secondRound(w io.Writer, r *Report, aggs []Agg) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	var checks []check
	add := func(what, target string, ok bool, measured string, have bool) {
		checks = append(checks, check{what: what, target: target, measured: measured, ok: ok, measuredOK: have})
	}
	sq, okS := Find(aggs, "ours/sqlite", "lifecycle", BarClients)
	add(fmt.Sprintf("SQLite lifecycles/s, %d clients", BarClients), fmt.Sprintf("≥ %.0f", TargetSQLiteRuns),
		sq.Throughput >= TargetSQLiteRuns, num(sq.Throughput), okS)
	add(fmt.Sprintf("SQLite p99 request latency, %d clients", BarClients), "≤ "+ms(TargetSQLiteP99),
		sq.P99 <= TargetSQLiteP99, ms(sq.P99), okS)
	add(fmt.Sprintf("SQLite server CPU per lifecycle, %d clients", BarClients), fmt.Sprintf("≤ %.1f ms", TargetSQLiteCPU),
		1000*sq.CPUPerOp <= TargetSQLiteCPU, fmt.Sprintf("%.2f ms", 1000*sq.CPUPerOp), okS && sq.Ops > 0)
	add(fmt.Sprintf("SQLite errors, %d clients", BarClients), "0", sq.Errors == 0, fmt.Sprint(sq.Errors), okS)

	pg, okG := Find(aggs, "ours/postgres", "lifecycle", BarClients)
	add(fmt.Sprintf("PostgreSQL lifecycles/s, %d clients", BarClients), fmt.Sprintf("≥ %.0f", TargetPostgresRuns),
		pg.Throughput >= TargetPostgresRuns, num(pg.Throughput), okG)
	py, okP := Find(aggs, "python/postgres", "lifecycle", BarClients)
	times := 0.0
	if py.Throughput > 0 {
		times = pg.Throughput / py.Throughput
	}
	add(fmt.Sprintf("PostgreSQL, ours over Python on PostgreSQL, %d clients", BarClients), fmt.Sprintf("≥ %.0fx", TargetPostgresTimesPy),
		times >= TargetPostgresTimesPy, fmt.Sprintf("%.1fx (%s over %s)", times, num(pg.Throughput), num(py.Throughput)), okG && okP && py.Throughput > 0)

	for _, b := range []struct{ backend, title string }{{"sqlite", "SQLite"}, {"postgres", "PostgreSQL"}} {
		a, ok := Find(aggs, "ours/"+b.backend, "lifecycle", TargetPeakClients)
		add(fmt.Sprintf("%s peak RSS, %d-client lifecycle", b.title, TargetPeakClients), "≤ "+bytes(TargetPeakRSS),
			a.PeakRSS <= TargetPeakRSS, bytes(a.PeakRSS), ok && a.PeakRSS > 0)
	}
	for _, b := range []struct{ backend, title string }{{"sqlite", "SQLite"}, {"postgres", "PostgreSQL"}} {
		base := BaselineIdleRSS[b.backend]
		limit := int64(float64(base) * (1 + IdleRSSSlack))
		idle := idleMedian(r, "ours/"+b.backend)
		add(fmt.Sprintf("%s idle RSS unchanged", b.title), fmt.Sprintf("≤ %.1f MiB (%s before, +%.0f%%)", float64(limit)/(1<<20), bytes(base), 100*IdleRSSSlack),
			idle <= limit, fmt.Sprintf("%.1f MiB", float64(idle)/(1<<20)), idle > 0)
	}

	pass, measured := 0, 0
	for _, c := range checks {
		if c.measuredOK {
			measured++
			if c.ok {
				pass++
			}
		}
	}
	p("## The bar (performance, second round)\n\n")
	p("The targets set before the hot path is optimised, checked against this run: %d of %d pass", pass, len(checks))
	if measured < len(checks) {
		p(" (%d not measured)", len(checks)-measured)
	}
	p(".\n\n| check | target | measured | result |\n|---|---|---:|---|\n")
	for _, c := range checks {
		result := "not measured"
		switch {
		case !c.measuredOK:
		case c.ok:
			result = "**pass**"
		default:
			result = "**fail**"
		}
		measuredText := c.measured
		if !c.measuredOK {
			measuredText = "-"
		}
		p("| %s | %s | %s | %s |\n", c.what, c.target, measuredText, result)
	}
	p("\n")
}
