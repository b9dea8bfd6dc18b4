package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

// CreateLogs returns the logs exactly as FilterLogs reads them back (the
// live stream sends the first, /logs/filter the second), and
// LogFilter.Includes, which filters the live stream, selects what the
// store's query selects, filter by filter.
func TestLogFilterIncludesAgreesWithStore(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		runA, runB, task := uuid.New(), uuid.New(), uuid.New()
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
		var batch []schema.LogCreate
		for i, fr := range []*uuid.UUID{&runA, &runA, &runB, nil} {
			for j, tr := range []*uuid.UUID{&task, nil} {
				batch = append(batch, schema.LogCreate{Name: "n", Level: 10 * (1 + i + j), Message: "m",
					Timestamp: &schema.DateTime{Time: t0.Add(time.Duration(2*i+j) * time.Second)}, FlowRunID: fr, TaskRunID: tr})
			}
		}
		created, err := s.CreateLogs(ctx, batch)
		require.NoError(t, err)
		all, err := s.FilterLogs(ctx, schema.LogQuery{})
		require.NoError(t, err)
		require.Equal(t, created, all, "CreateLogs returns what is stored (ordered by timestamp as created)")

		at := func(sec int) *schema.DateTime {
			return &schema.DateTime{Time: t0.Add(time.Duration(sec) * time.Second)}
		}
		filters := map[string]*schema.LogFilter{
			"none":             nil,
			"empty":            {},
			"level ge":         {Level: &schema.IntFilter{GE: ptr(30)}},
			"level le":         {Level: &schema.IntFilter{LE: ptr(30)}},
			"level range":      {Level: &schema.IntFilter{GE: ptr(20), LE: ptr(40)}},
			"before":           {Timestamp: &schema.TimeFilter{Before: at(3)}},
			"after":            {Timestamp: &schema.TimeFilter{After: at(3)}},
			"between":          {Timestamp: &schema.TimeFilter{After: at(1), Before: at(5)}},
			"timestamp null":   {Timestamp: &schema.TimeFilter{IsNull: ptr(true)}},
			"flow run any":     {FlowRunID: &schema.IDFilter{Any: []uuid.UUID{runA}}},
			"flow run any []":  {FlowRunID: &schema.IDFilter{Any: []uuid.UUID{}}},
			"flow run not any": {FlowRunID: &schema.IDFilter{NotAny: []uuid.UUID{runA}}},
			"flow run null":    {FlowRunID: &schema.IDFilter{IsNull: ptr(true)}},
			"task run any":     {TaskRunID: &schema.IDFilter{Any: []uuid.UUID{task}}},
			"task run null":    {TaskRunID: &schema.IDFilter{IsNull: ptr(true)}},
			"task run set":     {TaskRunID: &schema.IDFilter{IsNull: ptr(false)}},
			"combined": {Level: &schema.IntFilter{GE: ptr(20)}, FlowRunID: &schema.IDFilter{Any: []uuid.UUID{runA, runB}},
				TaskRunID: &schema.IDFilter{IsNull: ptr(true)}, Timestamp: &schema.TimeFilter{Before: at(6)}},
		}
		for name, f := range filters {
			want, err := s.FilterLogs(ctx, schema.LogQuery{Logs: f})
			require.NoError(t, err, name)
			var got []schema.Log
			for _, l := range created {
				if f.Includes(l) {
					got = append(got, l)
				}
			}
			require.Equal(t, logIDs(want), logIDs(got), name)
		}
	})
}

// A NUL byte in a log's name or message is dropped, as Prefect does, on
// both backends (PostgreSQL text cannot hold one).
func TestLogsDropNULBytes(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		created, err := s.CreateLogs(context.Background(), []schema.LogCreate{{Name: "a\x00b", Level: 20,
			Message: "c\x00d\x00", Timestamp: &schema.DateTime{Time: time.Now()}}})
		require.NoError(t, err)
		stored, err := s.FilterLogs(context.Background(), schema.LogQuery{})
		require.NoError(t, err)
		require.Equal(t, created, stored)
		require.Equal(t, "ab", stored[0].Name)
		require.Equal(t, "cd", stored[0].Message)
	})
}

func logIDs(logs []schema.Log) []uuid.UUID {
	out := []uuid.UUID{}
	for _, l := range logs {
		out = append(out, l.ID)
	}
	return out
}
