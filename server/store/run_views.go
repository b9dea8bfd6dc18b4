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
}

// TaskRunBucket is one bucket of CountTaskRunsByBucket.
type TaskRunBucket struct {
	Index             int
	Completed, Failed int
}
