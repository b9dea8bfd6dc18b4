package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// RunViews are the aggregates of runs that the web UI draws: counts,
// buckets of time and lateness, computed in the database.
type RunViews interface {
	// CountTaskRunsByFlowRun counts the task runs of each flow run, leaving
	// out those that stand for a subflow; a run without any is absent.
	CountTaskRunsByFlowRun(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int, error)
	// CountTaskRunsByState counts the task runs matching q by state type.
	CountTaskRunsByState(ctx context.Context, q schema.Query) (schema.CountByState, error)
	// CountTaskRunsByBucket counts the task runs matching q, failed (FAILED,
	// CRASHED) or not, by bucket of their start time: floor((start_time -
	// start) / width seconds).
	CountTaskRunsByBucket(ctx context.Context, q schema.Query, start time.Time, width float64) ([]TaskRunBucket, error)
	// FlowRunLateness is the average lateness in seconds at now of the flow
	// runs matching q, nil when none match.
	FlowRunLateness(ctx context.Context, q schema.Query, now time.Time) (*float64, error)
	// RunHistory counts the flow or task runs (kind) matching q whose
	// expected start time is in [start, start + n*width seconds), by bucket
	// floor((expected_start_time - start) / width) and state, with their
	// estimated run time and lateness at now summed.
	RunHistory(ctx context.Context, kind RunKind, q schema.Query, start time.Time, width float64, n int, now time.Time) ([]HistoryBucket, error)
	// FlowRunGraph reads what the flow run's graph is drawn from, with at
	// most maxArtifacts artifacts; ErrNotFound for an unknown run.
	FlowRunGraph(ctx context.Context, id uuid.UUID, maxArtifacts int) (GraphSource, error)
	// ObservedStates are the distinct (type, name) pairs in the retained
	// state histories of flow and task runs, with when each was first and
	// last seen.
	ObservedStates(ctx context.Context, q schema.ObservedStatesQuery) ([]schema.ObservedState, error)
}

// RunKind says which runs a query is about: its table.
type RunKind string

const (
	FlowRunKind RunKind = "flow_run"
	TaskRunKind RunKind = "task_run"
)

// HistoryBucket is one (bucket, state) row of RunHistory.
type HistoryBucket struct {
	Index int
	schema.HistoryState
}

// TaskRunBucket is one bucket of CountTaskRunsByBucket.
type TaskRunBucket struct {
	Index             int
	Completed, Failed int
}
