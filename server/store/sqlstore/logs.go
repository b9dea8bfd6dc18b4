package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// CreateLogs stores a batch of logs in one transaction and returns them as
// stored (ids given, times in UTC to the microsecond), for the live stream.
func (s *Store) CreateLogs(ctx context.Context, logs []schema.LogCreate) ([]schema.Log, error) {
	if len(logs) == 0 {
		return []schema.Log{}, nil
	}
	now := s.clock()
	out := make([]schema.Log, len(logs))
	for i, l := range logs {
		if l.Timestamp == nil {
			return nil, schema.Invalid(strconv.Itoa(i)+".timestamp", "Field required")
		}
		// NUL bytes are dropped, as Prefect does: PostgreSQL text cannot hold them.
		out[i] = schema.Log{ID: uuid.Must(uuid.NewV7()), Created: now, Updated: now, Name: stripNUL(l.Name), Level: l.Level,
			Message: stripNUL(l.Message), Timestamp: l.Timestamp.UTC().Truncate(time.Microsecond), FlowRunID: l.FlowRunID,
			TaskRunID: l.TaskRunID, WorkerID: l.WorkerID}
	}
	rows := make([][]any, len(out))
	for i, l := range out {
		rows[i] = s.row(l.ID, l.Created, l.Updated, l.Name, l.Level, l.FlowRunID, l.TaskRunID, l.WorkerID, l.Message, l.Timestamp)
	}
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		for chunk := range rowChunks(rows) {
			if _, err := c.exec(ctx, `INSERT INTO log (id, created, updated, name, level, flow_run_id, task_run_id, worker_id, message, timestamp) VALUES `+
				valuesRows(len(chunk), 10), rowArgs(chunk)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func stripNUL(s string) string { return strings.ReplaceAll(s, "\x00", "") }

var logSorts = map[string]string{
	"":               "log.timestamp ASC",
	"TIMESTAMP_ASC":  "log.timestamp ASC",
	"TIMESTAMP_DESC": "log.timestamp DESC",
}

// FilterLogs returns the logs matching q.
func (s *Store) FilterLogs(ctx context.Context, q schema.LogQuery) ([]schema.Log, error) {
	order, err := sortClause(logSorts, q.Sort)
	if err != nil {
		return nil, err
	}
	w := newWhere(s.d)
	if f := q.Logs; f != nil {
		if f.Level != nil {
			if f.Level.GE != nil {
				w.add("log.level >= ?", *f.Level.GE)
			}
			if f.Level.LE != nil {
				w.add("log.level <= ?", *f.Level.LE)
			}
		}
		w.times("log.timestamp", f.Timestamp)
		w.ids("log.flow_run_id", f.FlowRunID)
		w.ids("log.task_run_id", f.TaskRunID)
	}
	var out []schema.Log
	err = s.read(ctx, func(ctx context.Context, c conn) error {
		rows, err := c.query(ctx, `SELECT id, created, updated, name, level, flow_run_id, task_run_id, worker_id, message, timestamp
			FROM log WHERE `+w.sql()+` ORDER BY `+order+`, log.id`+s.page(q.Page), w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l schema.Log
			if err := rows.Scan(&l.ID, ts(&l.Created), ts(&l.Updated), &l.Name, &l.Level, nullUUID{&l.FlowRunID},
				nullUUID{&l.TaskRunID}, nullUUID{&l.WorkerID}, &l.Message, ts(&l.Timestamp)); err != nil {
				return classify(err)
			}
			out = append(out, l)
		}
		return classify(rows.Err())
	})
	return nonNil(out), err
}
