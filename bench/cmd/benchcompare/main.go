// Command benchcompare measures prefectgo against the Python Prefect server
// side by side on this machine and writes docs/benchmarks.md. `make
// bench-compare` runs it; -quick is a smoke run of a minute or two.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"prefectgo.dev/prefectgo/bench/compare"
	"prefectgo.dev/prefectgo/bench/load"
	"prefectgo.dev/prefectgo/bench/report"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(1)
	}
}

func run() error {
	home, _ := os.UserHomeDir()
	defVenv := os.Getenv("VENV")
	if defVenv == "" {
		defVenv = filepath.Join(home, ".cache", "prefectgo", "venv-3.9.1")
	}
	var (
		servers  = flag.String("servers", "ours/sqlite,python/sqlite,ours/postgres,python/postgres", "servers in the order they alternate")
		rounds   = flag.Int("rounds", 3, "rounds of the synthetic workloads (each server started afresh per round)")
		duration = flag.Duration("duration", 4*time.Second, "length of each measured cell")
		clients  = flag.String("clients", "1,4,16,64", "lifecycle concurrency levels")
		ingest   = flag.Int("ingest-clients", 4, "clients of the event and log workloads")
		readers  = flag.Int("read-clients", 4, "clients of the filter reads")
		seed     = flag.Int("seed-runs", 1000, "flow runs (each with one task run) seeded for the reads; 0 skips the reads")
		flows    = flag.Int("real-flows", 200, "flows the real prefect client runs; 0 skips it")
		flowsCap = flag.Duration("real-timeout", 90*time.Second, "stop the real client after this and report the flows it finished")
		ceilings = flag.Bool("ceilings", true, "measure the SQLite, PostgreSQL and loopback HTTP ceilings")
		prof     = flag.Duration("profile", 0, "take a CPU profile of ours/sqlite for this long during a 16-client lifecycle (e.g. 15s)")
		quick    = flag.Bool("quick", false, "smoke run: 1 round of 1 s cells, 1 and 16 clients, 300 seeded runs, 5 real flows")
		bin      = flag.String("bin", "bin/prefect-server", "our server binary (make build)")
		venv     = flag.String("venv", defVenv, "virtualenv with the pinned prefect (hack/python-env.sh)")
		pgURL    = flag.String("postgres-url", os.Getenv("PREFECTGO_TEST_POSTGRES_URL"), "admin URL of the PostgreSQL cluster (hack/postgres.sh url)")
		out      = flag.String("out", "docs/benchmarks.md", "markdown report; empty for none")
		jsonOut  = flag.String("json", "", "also write the raw measurements here")
	)
	var serverEnv multi
	flag.Var(&serverEnv, "server-env", "KEY=VALUE added to every server's environment (repeatable), e.g. PREFECT_API_LOG_RETRYABLE_ERRORS=true")
	flag.Parse()
	if *quick { // smoke values for whatever the command line left unset
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"rounds": "1", "duration": "1s", "clients": "1,16", "seed-runs": "300", "real-flows": "5"} {
			if !set[name] {
				_ = flag.Set(name, v)
			}
		}
	}
	levels, err := ints(*clients)
	if err != nil {
		return err
	}
	serverList := strings.Split(*servers, ",")
	if strings.Contains(*servers, "postgres") && *pgURL == "" {
		return fmt.Errorf("postgres servers need -postgres-url (or PREFECTGO_TEST_POSTGRES_URL=$(hack/postgres.sh url))")
	}
	if _, err := os.Stat(*bin); err != nil && strings.Contains(*servers, "ours") {
		return fmt.Errorf("%s: %w (run make build)", *bin, err)
	}
	absBin, _ := filepath.Abs(*bin)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := load.DefaultOptions()
	cfg := compare.Config{
		Servers: serverList, Rounds: *rounds, Duration: *duration, Clients: levels,
		IngestClients: *ingest, ReadClients: *readers, SeedRuns: *seed, SeedClients: 4, RealFlows: *flows, RealTimeout: *flowsCap,
		Ceilings: *ceilings, Profile: *prof, OursBin: absBin, Venv: *venv, PostgresURL: *pgURL, Load: opts,
		Settle: 2 * time.Second, Warmup: time.Second, Log: os.Stderr, ServerEnv: serverEnv,
	}
	if *quick {
		cfg.Settle, cfg.Warmup = time.Second, 0
	}
	r := &report.Report{
		Date: time.Now(), Machine: machine(), GoVersion: runtime.Version(), PrefectVersion: prefectVersion(*venv),
		Commit:  commit(),
		Command: commandLine(),
		Settings: map[string]string{
			"rounds": fmt.Sprint(*rounds), "duration": duration.String(), "clients": *clients,
			"ingest-clients": fmt.Sprint(*ingest), "read-clients": fmt.Sprint(*readers),
			"seed-runs": fmt.Sprint(*seed), "real-flows": fmt.Sprint(*flows), "real-timeout": flowsCap.String(),
			"tasks-per-run": fmt.Sprint(opts.TasksPerRun), "logs-per-run": fmt.Sprint(opts.LogsPerRun),
			"event-batch": fmt.Sprint(opts.EventBatch), "log-batch": fmt.Sprint(opts.LogBatch), "read-limit": fmt.Sprint(opts.ReadLimit),
		},
	}
	begin := time.Now()
	runErr := compare.Run(ctx, cfg, r)
	r.Total = time.Since(begin)
	if runErr != nil {
		r.Notes = append(r.Notes, "the run stopped early: "+runErr.Error())
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		report.Markdown(f, r)
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s (%s)\n", *out, r.Total.Round(time.Second))
	}
	return runErr
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("clients %q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// commandLine is how to reproduce the run: make's target when make ran it.
func commandLine() string {
	if c := strings.TrimSpace(os.Getenv("BENCH_COMMAND")); c != "" {
		return c
	}
	return "go run ./bench/cmd/benchcompare " + strings.Join(os.Args[1:], " ")
}

func machine() report.Machine {
	m := report.Machine{Cores: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				m.MemBytes = kb * 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func prefectVersion(venv string) string {
	out, err := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import prefect; print(prefect.__version__)").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// commit is HEAD, marked when the server's sources differ from it (the
// binary was built from the working tree).
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", "cmd/prefect-server", "server", "go.mod", "go.sum").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
