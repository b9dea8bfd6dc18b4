// Package ceiling measures what the machine allows without a server in the
// way: the lifecycle's writes done straight into SQLite (modernc.org/sqlite,
// the server's schema and pragmas) and PostgreSQL (pgx), and a loopback HTTP
// server answering a constant. Each server number then also reads as a
// fraction of these.
package ceiling

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"prefectgo.dev/prefectgo/server/store/postgres"
	"prefectgo.dev/prefectgo/server/store/sqlite"
	"prefectgo.dev/prefectgo/server/store/sqlstore"
)

// Result is one ceiling: lifecycles (or requests) per second.
type Result struct {
	Name    string
	Ops     int64
	Elapsed time.Duration
	Errors  int64
	Sample  string
}

// PerSecond is the throughput.
func (r Result) PerSecond() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// sqliteDSN repeats the pragmas of server/store/sqlite (busy_timeout first,
// WAL, synchronous NORMAL, foreign keys, SQLite's default cache, memory temp
// store) and its immediate write transactions.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(60000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "temp_store(MEMORY)")
	return "file:" + path + "?" + q.Encode() + "&_txlock=immediate"
}

// SQLite runs the lifecycle writes into a fresh database in dir, with the
// server's schema and one writer connection as the server has, from clients
// goroutines for d.
func SQLite(ctx context.Context, dir string, tasks, logs, clients int, d time.Duration) (Result, error) {
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(dir, "ceiling.db")))
	if err != nil {
		return Result{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := sqlstore.Migrate(ctx, db, sqlstore.SQLite, sqlite.Migrations); err != nil {
		return Result{}, err
	}
	be := &sqliteBackend{db: db}
	if err := be.prepare(ctx); err != nil {
		return Result{}, err
	}
	defer be.close()
	return run(ctx, "SQLite direct writes", be, tasks, logs, clients, d)
}

// Postgres does the same on a fresh database at dbURL through a pgx pool of
// clients connections, each transaction's statements sent as one pipelined
// batch: fewer round trips than any server makes.
func Postgres(ctx context.Context, dbURL string, tasks, logs, clients int, d time.Duration) (Result, error) {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return Result{}, err
	}
	db := stdlib.OpenDB(*cfg)
	_, err = sqlstore.Migrate(ctx, db, sqlstore.PostgreSQL, postgres.Migrations)
	db.Close()
	if err != nil {
		return Result{}, err
	}
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return Result{}, err
	}
	pcfg.MaxConns = int32(clients)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return Result{}, err
	}
	defer pool.Close()
	return run(ctx, "PostgreSQL direct writes", &pgBackend{pool: pool}, tasks, logs, clients, d)
}

// The statements of the lifecycle, in the server's schema.
const (
	insertFlow = iota
	insertRun
	insertRunState
	updateRun
	readRun
	insertTask
	insertTaskState
	updateTask
	insertLog
	insertEvent
	insertResource
	nStatements
)

var statements = [nStatements]string{
	insertFlow: `INSERT INTO flow (id, created, updated, name) VALUES (?, ?, ?, ?)`,
	insertRun: `INSERT INTO flow_run (id, created, updated, name, flow_id, parameters, tags, state_type, state_name, expected_start_time)
		VALUES (?, ?, ?, ?, ?, '{"n": 1}', '["bench"]', 'PENDING', 'Pending', ?)`,
	insertRunState: `INSERT INTO flow_run_state (id, created, updated, flow_run_id, type, name, timestamp, state_details) VALUES (?, ?, ?, ?, ?, ?, ?, '{}')`,
	updateRun:      `UPDATE flow_run SET state_id = ?, state_type = ?, state_name = ?, state_timestamp = ?, updated = ? WHERE id = ?`,
	readRun:        `SELECT name, state_type FROM flow_run WHERE id = ?`,
	insertTask: `INSERT INTO task_run (id, created, updated, name, flow_run_id, task_key, dynamic_key, tags, state_type, state_name)
		VALUES (?, ?, ?, 'add', ?, 'add', ?, '["bench"]', 'PENDING', 'Pending')`,
	insertTaskState: `INSERT INTO task_run_state (id, created, updated, task_run_id, type, name, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)`,
	updateTask:      `UPDATE task_run SET state_id = ?, state_type = ?, state_name = ?, state_timestamp = ?, updated = ? WHERE id = ?`,
	insertLog:       `INSERT INTO log (id, created, updated, name, level, flow_run_id, message, timestamp) VALUES (?, ?, ?, 'prefect.task_runs', 20, ?, ?, ?)`,
	insertEvent: `INSERT INTO events (id, occurred, event, resource_id, resource, related_resource_ids, related, payload, received, recorded)
		VALUES (?, ?, ?, ?, ?, '[]', ?, '{"validated_state": {"type": "RUNNING"}}', ?, ?)`,
	insertResource: `INSERT INTO event_resources (occurred, resource_id, resource_role, resource, event_id) VALUES (?, ?, ?, ?, ?)`,
}

// stmt is one statement of a transaction.
type stmt struct {
	which int
	args  []any
}

// backend runs a list of statements as one transaction.
type backend interface {
	tx(ctx context.Context, stmts []stmt) error
}

type sqliteBackend struct {
	db       *sql.DB
	prepared [nStatements]*sql.Stmt
}

func (b *sqliteBackend) prepare(ctx context.Context) error {
	for i, q := range statements {
		st, err := b.db.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		b.prepared[i] = st
	}
	return nil
}

func (b *sqliteBackend) close() {
	for _, st := range b.prepared {
		if st != nil {
			_ = st.Close()
		}
	}
}

func (b *sqliteBackend) tx(ctx context.Context, stmts []stmt) error {
	t, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		st := t.StmtContext(ctx, b.prepared[s.which])
		if s.which == readRun {
			var a, c string
			err = st.QueryRowContext(ctx, s.args...).Scan(&a, &c)
		} else {
			_, err = st.ExecContext(ctx, s.args...)
		}
		if err != nil {
			_ = t.Rollback()
			return err
		}
	}
	return t.Commit()
}

type pgBackend struct{ pool *pgxpool.Pool }

func (b *pgBackend) tx(ctx context.Context, stmts []stmt) error {
	t, err := b.pool.Begin(ctx)
	if err != nil {
		return err
	}
	batch := &pgx.Batch{}
	for _, s := range stmts {
		batch.Queue(numbered(statements[s.which]), s.args...)
	}
	if err := t.SendBatch(ctx, batch).Close(); err != nil {
		_ = t.Rollback(ctx)
		return err
	}
	return t.Commit(ctx)
}

// numbered rewrites ? placeholders to $1, $2, ...
func numbered(q string) string {
	out := make([]byte, 0, len(q)+16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, fmt.Sprintf("$%d", n)...)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

func run(ctx context.Context, name string, be backend, tasks, logs, clients int, d time.Duration) (Result, error) {
	w := &writer{be: be, tasks: tasks, logs: logs, flowID: uuid.NewString(), events: make(chan []stmt, 4*clients)}
	now := time.Now().UTC()
	if err := be.tx(ctx, []stmt{{insertFlow, []any{w.flowID, now, now, "ceiling"}}}); err != nil {
		return Result{}, err
	}
	res := Result{Name: name}
	var ops, errs atomic.Int64
	var sample atomic.Value
	fail := func(err error) {
		errs.Add(1)
		sample.CompareAndSwap(nil, err.Error())
	}
	persisted := make(chan struct{})
	go func() { w.persist(ctx, fail); close(persisted) }()

	start := time.Now()
	until := start.Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(until) && ctx.Err() == nil {
				if err := w.lifecycle(ctx); err != nil {
					fail(err)
					continue
				}
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	close(w.events)
	<-persisted // the clock runs until every event is written
	res.Elapsed, res.Ops, res.Errors = time.Since(start), ops.Load(), errs.Load()
	if s, ok := sample.Load().(string); ok {
		res.Sample = s
	}
	return res, nil
}

type writer struct {
	be          backend
	tasks, logs int
	flowID      string
	events      chan []stmt
}

// lifecycle writes what the server writes for one lifecycle: one
// transaction per request (create with Pending, Running, the log batch,
// Completed), and hands the events (the client's task-run events with their
// task runs and states, and the server's flow-run events) to the persister,
// which writes them in batches as the server's persister and recorder do.
func (w *writer) lifecycle(ctx context.Context) error {
	runID := uuid.NewString()
	now := time.Now().UTC()
	create := append([]stmt{{insertRun, []any{runID, now, now, "ceiling-run", w.flowID, now}}}, state(runID, "PENDING", "Pending")...)
	if err := w.be.tx(ctx, create); err != nil {
		return err
	}
	if err := w.be.tx(ctx, append([]stmt{{readRun, []any{runID}}}, state(runID, "RUNNING", "Running")...)); err != nil {
		return err
	}
	var events []stmt
	for t := range w.tasks {
		taskID := uuid.NewString()
		for i, st := range [][2]string{{"PENDING", "Pending"}, {"RUNNING", "Running"}, {"COMPLETED", "Completed"}} {
			at := now.Add(time.Duration(i) * time.Millisecond)
			if i == 0 {
				events = append(events, stmt{insertTask, []any{taskID, at, at, runID, fmt.Sprint(t)}})
			}
			stateID := uuid.NewString()
			events = append(events,
				stmt{insertTaskState, []any{stateID, at, at, taskID, st[0], st[1], at}},
				stmt{updateTask, []any{stateID, st[0], st[1], at, at, taskID}})
			events = append(events, w.event("prefect.task-run."+st[1], "prefect.task-run."+taskID, runID, at)...)
		}
	}
	var logs []stmt
	for i := range w.logs {
		logs = append(logs, stmt{insertLog, []any{uuid.NewString(), now, now, runID, fmt.Sprintf("log %d", i), now}})
	}
	if err := w.be.tx(ctx, logs); err != nil {
		return err
	}
	if err := w.be.tx(ctx, state(runID, "COMPLETED", "Completed")); err != nil {
		return err
	}
	for _, st := range []string{"Pending", "Running", "Completed"} {
		events = append(events, w.event("prefect.flow-run."+st, "prefect.flow-run."+runID, runID, now)...)
	}
	w.events <- events
	return nil
}

func state(runID, typ, name string) []stmt {
	id, now := uuid.NewString(), time.Now().UTC()
	return []stmt{
		{insertRunState, []any{id, now, now, runID, typ, name, now}},
		{updateRun, []any{id, typ, name, now, now, runID}},
	}
}

// event is one event row and a resource row for it and each of its three
// related resources.
func (w *writer) event(name, resourceID, runID string, at time.Time) []stmt {
	id := uuid.NewString()
	resource := `{"prefect.resource.id": "` + resourceID + `"}`
	related := `[{"prefect.resource.id": "prefect.flow-run.` + runID + `", "prefect.resource.role": "flow-run"}, {"prefect.resource.id": "prefect.flow.` + w.flowID + `", "prefect.resource.role": "flow"}, {"prefect.resource.id": "prefect.tag.bench", "prefect.resource.role": "tag"}]`
	out := []stmt{{insertEvent, []any{id, at, name, resourceID, resource, related, at, at}}}
	for i, r := range []string{resourceID, "prefect.flow-run." + runID, "prefect.flow." + w.flowID, "prefect.tag.bench"} {
		role := []string{"", "flow-run", "flow", "tag"}[i]
		out = append(out, stmt{insertResource, []any{at, r, role, `{"prefect.resource.id": "` + r + `"}`, id}})
	}
	return out
}

// persist writes the queued event statements in transactions of about 100
// events (the server's persister uses 20).
func (w *writer) persist(ctx context.Context, fail func(error)) {
	var batch []stmt
	runs := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := w.be.tx(ctx, batch); err != nil {
			fail(err)
		}
		batch, runs = batch[:0], 0
	}
	for evs := range w.events {
		batch = append(batch, evs...)
		runs++
		if runs*(3*w.tasks+3) >= 100 || len(w.events) == 0 {
			flush()
		}
	}
	flush()
}
