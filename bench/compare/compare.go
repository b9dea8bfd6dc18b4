// Package compare runs the side-by-side comparison: the servers in
// alternation over rounds, every workload on each, the ceilings, and the
// reads and real-client phase, collecting a report.Report.
package compare

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"prefectgo.dev/prefectgo/bench/ceiling"
	"prefectgo.dev/prefectgo/bench/load"
	"prefectgo.dev/prefectgo/bench/procs"
	"prefectgo.dev/prefectgo/bench/report"
	"prefectgo.dev/prefectgo/server/store/sqlstore"
)

// Config is what to run.
type Config struct {
	Servers       []string // "ours/sqlite", "python/sqlite", "ours/postgres", "python/postgres"
	Rounds        int
	Duration      time.Duration // per cell
	Clients       []int         // lifecycle concurrency levels
	IngestClients int           // events and logs workloads
	ReadClients   int
	SeedRuns      int // 0 skips the reads
	SeedClients   int
	RealFlows     int           // 0 skips the real client
	RealTimeout   time.Duration // the real client stops after this; flows done so far count
	Ceilings      bool
	Profile       time.Duration // CPU profile of ours/sqlite at 16 clients; 0 skips

	OursBin     string
	Venv        string
	PostgresURL string
	Load        load.Options
	Settle      time.Duration // after healthy, before the idle RSS reading
	Warmup      time.Duration
	Log         io.Writer
	ServerEnv   []string // added to every server's environment
}

// Run measures everything cfg asks for into r (whose header the caller fills).
func Run(ctx context.Context, cfg Config, r *report.Report) error {
	logf := func(format string, args ...any) { fmt.Fprintf(cfg.Log, format+"\n", args...) }
	specs := make([]procs.Spec, 0, len(cfg.Servers))
	for _, name := range cfg.Servers {
		impl, backend, ok := strings.Cut(name, "/")
		if !ok {
			return fmt.Errorf("server %q: want impl/backend", name)
		}
		specs = append(specs, procs.Spec{Impl: impl, Backend: backend, OursBin: cfg.OursBin, Venv: cfg.Venv, PostgresURL: cfg.PostgresURL, Env: cfg.ServerEnv})
	}

	if cfg.Ceilings && cfg.Rounds == 0 {
		if err := measureCeilings(ctx, cfg, r, specs, 0, logf); err != nil {
			return err
		}
	}

	for round := 1; round <= cfg.Rounds; round++ {
		// The ceilings are measured every round too, so drift on a noisy
		// machine hits them as it hits the servers.
		if cfg.Ceilings {
			if err := measureCeilings(ctx, cfg, r, specs, round, logf); err != nil {
				return err
			}
		}
		for _, spec := range specs {
			logf("round %d/%d: %s", round, cfg.Rounds, spec.Name())
			if err := syntheticRound(ctx, cfg, r, spec, round, logf); err != nil {
				return err
			}
		}
	}

	if cfg.SeedRuns > 0 || cfg.RealFlows > 0 {
		for _, spec := range specs {
			logf("reads and real client: %s", spec.Name())
			if err := readsAndClient(ctx, cfg, r, spec, logf); err != nil {
				return err
			}
		}
	}

	if cfg.Profile > 0 {
		for _, spec := range specs {
			if spec.Name() == "ours/sqlite" {
				logf("profile: ours/sqlite lifecycle at %d clients for %s", report.BarClients, cfg.Profile)
				prof, err := profile(ctx, cfg, spec)
				if err != nil {
					r.Notes = append(r.Notes, "profile failed: "+err.Error())
				}
				r.Profile = prof
			}
		}
	}
	return nil
}

// started starts spec, lets it settle and records its idle footprint.
func started(ctx context.Context, cfg Config, spec procs.Spec, round int) (*procs.Server, *report.ServerRun, error) {
	srv, err := procs.Start(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	sleep(ctx, cfg.Settle)
	u := srv.Usage()
	run := report.ServerRun{Server: spec.Name(), Impl: spec.Impl, Backend: spec.Backend, Round: round, Started: srv.Started, IdleRSS: u.RSSBytes, IdleProcs: u.Procs}
	return srv, &run, nil
}

func stopped(r *report.Report, srv *procs.Server, run *report.ServerRun) {
	run.FinalHWM = srv.Usage().HWMBytes
	// Python's in-memory broker drops events it has no room for, saying so in its log.
	run.DroppedWarnings = srv.CountLogLines("queue is full, dropping message")
	r.Servers = append(r.Servers, *run)
	srv.Stop()
}

func syntheticRound(ctx context.Context, cfg Config, r *report.Report, spec procs.Spec, round int, logf func(string, ...any)) error {
	srv, run, err := started(ctx, cfg, spec, round)
	if err != nil {
		return err
	}
	defer stopped(r, srv, run)
	client := load.NewClient(srv.APIURL, 128)
	defer client.Close()
	if cfg.Warmup > 0 {
		if _, _, err := load.Run(ctx, client, load.Lifecycle(cfg.Load), 4, cfg.Warmup); err != nil {
			return fmt.Errorf("%s warm-up: %w\n%s", spec.Name(), err, srv.LogTail(20))
		}
	}
	for _, c := range cfg.Clients {
		if err := cell(ctx, cfg, r, srv, load.Lifecycle(cfg.Load), c, round, logf); err != nil {
			return err
		}
	}
	// The WebSocket flood goes last: Python's server accepts events faster
	// than it handles them, and the backlog would weigh on whatever came next.
	for _, w := range []load.Workload{load.Logs(cfg.Load), load.EventsHTTP(cfg.Load), load.EventsWS()} {
		if err := cell(ctx, cfg, r, srv, w, cfg.IngestClients, round, logf); err != nil {
			return err
		}
	}
	return nil
}

func readsAndClient(ctx context.Context, cfg Config, r *report.Report, spec procs.Spec, logf func(string, ...any)) error {
	srv, run, err := started(ctx, cfg, spec, 0)
	if err != nil {
		return err
	}
	defer stopped(r, srv, run)
	client := load.NewClient(srv.APIURL, 128)
	defer client.Close()

	if cfg.RealFlows > 0 {
		before := srv.Usage()
		s := newSampler(srv)
		res, err := load.RealClient(ctx, cfg.Venv, srv.APIURL, cfg.RealFlows, cfg.RealTimeout)
		peak, _ := s.stop()
		rc := report.RealClient{Server: spec.Name(), Impl: spec.Impl, Backend: spec.Backend, Flows: res.Flows, Capped: res.Capped,
			Seconds: res.Seconds, Process: res.Process, CPUSecs: srv.Usage().CPUSecs - before.CPUSecs, PeakRSS: peak}
		if err != nil {
			rc.Err = err.Error()
			logf("  real client failed: %v", err)
		} else {
			logf("  real client: %d flows in %.1f s", res.Flows, res.Seconds)
		}
		r.RealClient = append(r.RealClient, rc)
	}
	if cfg.SeedRuns > 0 {
		created, failed, took, err := load.Seed(ctx, client, cfg.Load, cfg.SeedRuns, cfg.SeedClients)
		seed := report.Seed{Server: spec.Name(), Runs: created, Failed: failed, Took: took}
		if err != nil {
			seed.Err = err.Error()
		}
		r.Seeds = append(r.Seeds, seed)
		logf("  seeded %d runs (%d failed) in %s", created, failed, took.Round(100*time.Millisecond))
		if created == 0 {
			return nil
		}
		for _, w := range []load.Workload{load.ReadFlowRuns(cfg.Load), load.ReadTaskRuns(cfg.Load)} {
			if err := cell(ctx, cfg, r, srv, w, cfg.ReadClients, 0, logf); err != nil {
				return err
			}
		}
	}
	return nil
}

// cell runs one workload at one concurrency and records it.
func cell(ctx context.Context, cfg Config, r *report.Report, srv *procs.Server, w load.Workload, clients, round int, logf func(string, ...any)) error {
	// Fresh connections per cell: none left idle from the previous one.
	c := load.NewClient(srv.APIURL, clients)
	defer c.Close()
	counts := srv.DebugAddr != ""
	var countsBefore sqlstore.Counts
	if counts {
		var err error
		if countsBefore, err = srv.StoreCounts(ctx); err != nil {
			return fmt.Errorf("%s: statement counts: %w", srv.Spec.Name(), err)
		}
	}
	before := srv.Usage()
	s := newSampler(srv)
	rec, elapsed, err := load.Run(ctx, c, w, clients, cfg.Duration)
	peak, steady := s.stop()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", srv.Spec.Name(), err, srv.LogTail(20))
	}
	cpu := srv.Usage().CPUSecs - before.CPUSecs
	p50, p95, p99 := rec.Percentiles()
	spec := srv.Spec
	out := report.Cell{Server: spec.Name(), Impl: spec.Impl, Backend: spec.Backend, Workload: w.Name, Unit: w.Unit, Clients: clients, Round: round,
		Ops: rec.Ops, Requests: rec.Requests, Errors: rec.Errors, Elapsed: elapsed, P50: p50, P95: p95, P99: p99,
		PeakRSS: peak, SteadyRSS: steady, CPUSecs: cpu, ErrorSamples: rec.Samples}
	if counts {
		after, err := srv.StoreCounts(ctx)
		if err != nil {
			return fmt.Errorf("%s: statement counts: %w", srv.Spec.Name(), err)
		}
		out.Statements, out.Transactions, out.Writes, out.Counted = after.Statements-countsBefore.Statements, after.Transactions-countsBefore.Transactions,
			after.Writes-countsBefore.Writes, true
		if out.Unstored, err = srv.PersisterBacklog(ctx); err != nil {
			return fmt.Errorf("%s: persister backlog: %w", srv.Spec.Name(), err)
		}
	}
	r.Cells = append(r.Cells, out)
	logf("  %-16s c=%-3d %9.1f %s/s  p99 %6.1f ms  errors %d%s", w.Name, clients, out.Throughput(), w.Unit, float64(p99)/1e6, rec.Errors, perUnit(out))
	return nil
}

// perUnit is the cell's CPU and, when counted, SQL per unit, for the log.
func perUnit(c report.Cell) string {
	if c.Ops == 0 {
		return ""
	}
	s := fmt.Sprintf("  cpu %.2f ms/%s", 1000*c.CPUSecs/float64(c.Ops), strings.TrimSuffix(c.Unit, "s"))
	if c.Counted {
		s += fmt.Sprintf("  sql %.1f stmts %.1f txns %.1f writes", float64(c.Statements)/float64(c.Ops), float64(c.Transactions)/float64(c.Ops),
			float64(c.Writes)/float64(c.Ops))
	}
	return s
}

// sampler reads the server tree's RSS every 200 ms while a cell runs.
type sampler struct {
	done    chan struct{}
	wg      sync.WaitGroup
	samples []int64
}

func newSampler(srv *procs.Server) *sampler {
	s := &sampler{done: make(chan struct{})}
	s.samples = append(s.samples, srv.Usage().RSSBytes)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				s.samples = append(s.samples, srv.Usage().RSSBytes)
			}
		}
	}()
	return s
}

// stop returns the peak sample and the median of the second half.
func (s *sampler) stop() (peak, steady int64) {
	close(s.done)
	s.wg.Wait()
	for _, v := range s.samples {
		peak = max(peak, v)
	}
	half := append([]int64(nil), s.samples[len(s.samples)/2:]...)
	sort.Slice(half, func(i, j int) bool { return half[i] < half[j] })
	return peak, half[len(half)/2]
}

func measureCeilings(ctx context.Context, cfg Config, r *report.Report, specs []procs.Spec, round int, logf func(string, ...any)) error {
	d := cfg.Duration
	tasks, logs := cfg.Load.TasksPerRun, cfg.Load.LogsPerRun
	clients := report.BarClients
	dir, err := os.MkdirTemp("", "benchcompare-ceiling-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	res, err := ceiling.SQLite(ctx, dir, tasks, logs, clients, d)
	if err != nil {
		return fmt.Errorf("SQLite ceiling: %w", err)
	}
	r.Ceilings = append(r.Ceilings, report.Ceiling{Round: round, Name: res.Name, Clients: clients, Unit: "runs", PerSecond: res.PerSecond(), Errors: res.Errors,
		Note: fmt.Sprintf("the lifecycle's rows (run, 3 states, %d task runs with 3 states, %d events with their resource rows, %d logs) in 5 transactions, %d goroutines, one writer connection", tasks, 3*tasks+3, logs, clients)})
	logf("ceiling: %s %.0f runs/s", res.Name, res.PerSecond())

	if cfg.PostgresURL != "" && usesPostgres(specs) {
		name, err := procs.CreateDatabase(ctx, cfg.PostgresURL)
		if err != nil {
			return err
		}
		res, err := ceiling.Postgres(ctx, procs.DatabaseURL(cfg.PostgresURL, name), tasks, logs, clients, d)
		procs.DropDatabase(cfg.PostgresURL, name)
		if err != nil {
			return fmt.Errorf("PostgreSQL ceiling: %w", err)
		}
		r.Ceilings = append(r.Ceilings, report.Ceiling{Round: round, Name: res.Name, Clients: clients, Unit: "runs", PerSecond: res.PerSecond(), Errors: res.Errors,
			Note: fmt.Sprintf("the same rows and transactions through pgx, %d connections", clients)})
		logf("ceiling: %s %.0f runs/s", res.Name, res.PerSecond())
	}

	url, stop, err := ceiling.Loopback()
	if err != nil {
		return err
	}
	defer stop()
	c := load.NewClient(url, clients)
	defer c.Close()
	rec, elapsed, err := load.Run(ctx, c, load.Constant(), clients, d)
	if err != nil {
		return err
	}
	_, _, p99 := rec.Percentiles()
	r.Ceilings = append(r.Ceilings, report.Ceiling{Round: round, Name: "loopback HTTP", Clients: clients, Unit: "requests", PerSecond: float64(rec.Requests) / elapsed.Seconds(), P99: p99, Errors: rec.Errors,
		Note: fmt.Sprintf("a Go net/http server answering a constant JSON body to the same load generator, %d clients", clients)})
	logf("ceiling: loopback HTTP %.0f requests/s", float64(rec.Requests)/elapsed.Seconds())
	return nullServer(ctx, cfg, r, round, logf)
}

// nullServer runs the lifecycle, at each of its client counts, against
// ceiling.NullServer: the same load with no server work behind it.
func nullServer(ctx context.Context, cfg Config, r *report.Report, round int, logf func(string, ...any)) error {
	url, stop, err := ceiling.NullServer()
	if err != nil {
		return err
	}
	defer stop()
	for _, clients := range cfg.Clients {
		c := load.NewClient(url, clients)
		rec, elapsed, err := load.Run(ctx, c, load.Lifecycle(cfg.Load), clients, cfg.Duration)
		c.Close()
		if err != nil {
			return fmt.Errorf("null server: %w", err)
		}
		_, _, p99 := rec.Percentiles()
		out := report.Ceiling{Round: round, Name: report.NullServer, Clients: clients, Unit: "runs", PerSecond: float64(rec.Ops) / elapsed.Seconds(), P99: p99, Errors: rec.Errors,
			Note: "the lifecycle (same load generator and shapes) against an in-process HTTP and WebSocket handler that parses each body and answers without storing (bench/ceiling/nullserver.go)"}
		r.Ceilings = append(r.Ceilings, out)
		logf("ceiling: null server c=%d %.0f runs/s p99 %.1f ms errors %d", clients, out.PerSecond, float64(p99)/1e6, rec.Errors)
	}
	return nil
}

func usesPostgres(specs []procs.Spec) bool {
	for _, s := range specs {
		if s.Backend == "postgres" {
			return true
		}
	}
	return false
}

// profile starts ours/sqlite with the pprof listener, runs the lifecycle at
// the bar's concurrency and takes a CPU profile meanwhile; it returns the top
// of `go tool pprof -top`.
func profile(ctx context.Context, cfg Config, spec procs.Spec) (string, error) {
	srv, err := procs.Start(ctx, spec)
	if err != nil {
		return "", err
	}
	defer srv.Stop()
	addr := srv.DebugAddr
	client := load.NewClient(srv.APIURL, 128)
	defer client.Close()
	if _, _, err := load.Run(ctx, client, load.Lifecycle(cfg.Load), 4, time.Second); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "benchcompare-profile-")
	if err != nil {
		return "", err
	}
	file := filepath.Join(dir, "cpu.pprof")
	secs := int(cfg.Profile.Seconds())
	var profErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		profErr = fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), file)
	}()
	before := srv.Usage()
	rec, elapsed, err := load.Run(ctx, client, load.Lifecycle(cfg.Load), report.BarClients, cfg.Profile+time.Second)
	if err != nil {
		return "", err
	}
	cpu := srv.Usage().CPUSecs - before.CPUSecs
	wg.Wait()
	if profErr != nil {
		return "", profErr
	}
	flat, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", cfg.OursBin, file).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w\n%s", err, flat)
	}
	cum, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=40", cfg.OursBin, file).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w\n%s", err, cum)
	}
	// The raw profile stays for a closer look (go tool pprof -http).
	kept := filepath.Join(os.TempDir(), "benchcompare-ours-sqlite-cpu.pprof")
	if err := os.Rename(file, kept); err == nil {
		_, _ = io.WriteString(cfg.Log, "profile kept at "+kept+"\n")
	}
	_ = os.RemoveAll(dir)
	during := fmt.Sprintf("while profiled: %d lifecycles in %.1f s (%.0f/s), %d errors, server CPU %.1f s: %.2f ms per lifecycle\n\n",
		rec.Ops, elapsed.Seconds(), float64(rec.Ops)/elapsed.Seconds(), rec.Errors, cpu, 1000*cpu/float64(max(rec.Ops, 1)))
	return during + "by own time (flat):\n\n" + string(flat) + "\nby time in callees too (cum):\n\n" + string(cum), nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
