// Command prefect-server is a Prefect 3 server: `serve` runs the API and its
// background services; `migrate`, `retention` and `schedule` do one job
// against the database and exit; `backup` and `restore` copy a SQLite
// database out and back; `settings` prints the effective settings.
// All configuration comes from Prefect's environment variables.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"

	"prefectgo.dev/prefectgo/server"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/sqlstore"
)

const usage = `usage: prefect-server <command>

commands:
  serve      run the API server and its background services (the default)
  migrate    apply pending database migrations and exit
  settings   print the effective settings (secrets redacted) and exit
  retention  delete the events older than the retention period, once, and exit
  schedule   one pass of the deployment scheduler, and exit
  backup     copy the live SQLite database to DIR/prefect-<UTC time>.db, check it,
             delete the oldest beyond N, print one JSON line, and exit
               --dir DIR   where the backups go (created if missing)
               --keep N    how many backups to keep, the new one included (0: all)
  restore    put a backup in place as the SQLite database, checking it first;
             never replaces a database that exists
               --from FILE   the backup to restore
               --if-missing  an existing database is no error (left as it is)

Settings are read from PREFECT_SERVER_* environment variables; see
'prefect-server settings' for every name and its value.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if cmd == "-h" || cmd == "--help" || cmd == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	s, err := settings.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "prefect-server: invalid settings:\n%v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := server.NewLogger(stderr, s.Logging.Level)
	for _, env := range settings.UnknownEnv(os.Environ()) {
		log.Warn("ignoring an environment variable this server does not read", "name", env)
	}

	switch cmd {
	case "serve":
		err = server.Serve(ctx, s, log, servePprof(os.Getenv("PREFECTGO_PPROF_ADDR"), log))
	case "migrate":
		err = server.Migrate(ctx, s, stdout)
	case "settings":
		err = settings.Print(stdout, s)
	case "retention":
		err = server.Retention(ctx, s, stdout)
	case "schedule":
		err = server.Schedule(ctx, s, stdout)
	case "backup":
		o := server.BackupOptions{TerminationLog: terminationLog}
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		fs.StringVar(&o.Dir, "dir", "", "")
		fs.IntVar(&o.Keep, "keep", 0, "")
		if err = parseFlags(fs, args[1:], stderr); err == nil {
			err = server.Backup(ctx, s, o, stdout)
		}
	case "restore":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		from := fs.String("from", "", "")
		ifMissing := fs.Bool("if-missing", false, "")
		if err = parseFlags(fs, args[1:], stderr); err == nil {
			err = server.Restore(ctx, s, *from, *ifMissing, stdout)
		}
	default:
		fmt.Fprintf(stderr, "prefect-server: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "prefect-server %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// terminationLog is where Kubernetes reads a container's termination
// message; backup writes its report there too when it exists.
var terminationLog = "/dev/termination-log"

// errUsage is a command line that parseFlags refused and explained.
var errUsage = errors.New("usage")

// parseFlags parses a subcommand's flags; a bad one, or a stray argument,
// prints the usage.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(stderr, "prefect-server %s: %v\n\n%s", fs.Name(), err, usage)
		return errUsage
	}
	return nil
}

// servePprof serves net/http/pprof on addr, its own listener apart from the
// API, when addr is set (PREFECTGO_PPROF_ADDR, e.g. 127.0.0.1:6060): opt-in
// profiling for benchmarks (make bench-compare -profile). /debug/sqlstore
// answers the statements and transactions the store has sent so far
// (sqlstore.Counts), which make bench-compare reads around each cell, and
// the server adds /debug/events to the mux returned (nil without addr).
func servePprof(addr string, log *slog.Logger) *http.ServeMux {
	if addr == "" {
		return nil
	}
	mux := debugMux()
	go func() {
		log.Info("pprof listening", "addr", addr)
		if err := http.ListenAndServe(addr, mux); err != nil {
			log.Error("pprof listener stopped", "error", err)
		}
	}()
	return mux
}

func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/sqlstore", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(sqlstore.ReadCounts())
	})
	return mux
}
