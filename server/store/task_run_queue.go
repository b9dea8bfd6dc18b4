package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// TaskRunQueue is the queue of background task runs waiting for the task
// workers subscribed to their task key. The runs service puts a run in it
// with its deferred Scheduled state, in the same transaction. A run is
// handed to one worker at a time: claimed, then acked (gone from the queue)
// or released (back in it, ahead of the runs never sent). A claim is kept
// alive by renewing it; one not renewed (its server died) is released by
// whichever server sweeps first.
type TaskRunQueue interface {
	// ClaimTaskRun claims the queued run that comes first for any of keys
	// (retries and released runs first, then the longest queued), and
	// returns it as it is now with a claim of its own; ok is false when none
	// is queued. Concurrent claims never get the same run. A queued run no
	// longer Scheduled (a worker already took it, or it moved on) is dropped
	// from the queue instead of being returned.
	ClaimTaskRun(ctx context.Context, keys []string) (c TaskRunClaim, ok bool, err error)
	// RenewTaskRunClaim marks the claim alive now; false when it is no
	// longer held (released as stale, or the run was queued again).
	RenewTaskRunClaim(ctx context.Context, c TaskRunClaim) (bool, error)
	// AckTaskRun removes the claimed run from the queue; nothing happens
	// when the claim is no longer held.
	AckTaskRun(ctx context.Context, c TaskRunClaim) error
	// ReleaseTaskRun puts the claimed run back in the queue, ahead of the
	// runs never sent; nothing happens when the claim is no longer held.
	ReleaseTaskRun(ctx context.Context, c TaskRunClaim) error
	// ReleaseStaleTaskRunClaims releases every claim last renewed before
	// before, and returns how many it released.
	ReleaseStaleTaskRunClaims(ctx context.Context, before time.Time) (int, error)
	// QueuedTaskKeys returns those of keys that have an unclaimed run.
	QueuedTaskKeys(ctx context.Context, keys []string) ([]string, error)
}

// TaskRunClaim is a queued run handed to one worker.
type TaskRunClaim struct {
	Run schema.TaskRun
	// Claim identifies this hand-over: acking or releasing it is a no-op
	// once another server has taken the run over.
	Claim uuid.UUID
}
