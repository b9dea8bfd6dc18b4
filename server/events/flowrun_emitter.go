package events

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// relatedTTL is how long a flow-run event's view of a flow, deployment, pool
// or parent task run may be stale: Prefect caches them for five minutes too.
// It keeps two or three reads off every state change.
const relatedTTL = 5 * time.Minute

// relatedCacheSize bounds the cache; past it, the cache starts over.
const relatedCacheSize = 10_000

// RelatedReader reads the objects a flow-run event names besides the run.
type RelatedReader interface {
	ReadFlow(ctx context.Context, id uuid.UUID) (schema.Flow, error)
	ReadDeployment(ctx context.Context, id uuid.UUID) (schema.Deployment, error)
	ReadWorkPool(ctx context.Context, id uuid.UUID) (schema.WorkPool, error)
	ReadTaskRun(ctx context.Context, id uuid.UUID) (schema.TaskRun, error)
}

// EventEmitter takes the events the server itself emits (the Ingestor).
type EventEmitter interface {
	Emit(ctx context.Context, events ...schema.Event) error
}

// FlowRunEvents emits prefect.flow-run.<State> for committed transitions,
// filling in the related objects from a short-lived cache.
type FlowRunEvents struct {
	emitter EventEmitter
	reader  RelatedReader
	log     *slog.Logger
	now     func() time.Time

	mu    sync.Mutex
	cache map[uuid.UUID]cachedRelated
}

type cachedRelated struct {
	at    time.Time
	name  string
	tags  []string
	pool  string // a work pool's type
	found bool
}

// NewFlowRunEvents returns an emitter; a nil emitter makes StateChanged a no-op.
func NewFlowRunEvents(emitter EventEmitter, reader RelatedReader, log *slog.Logger) *FlowRunEvents {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FlowRunEvents{emitter: emitter, reader: reader, log: log, now: time.Now, cache: map[uuid.UUID]cachedRelated{}}
}

// StateChanged emits the event of a transition of run from initial to
// validated. A failure is logged, not returned: the transition is committed.
func (f *FlowRunEvents) StateChanged(ctx context.Context, run schema.FlowRun, initial *schema.State, validated schema.State) {
	if f == nil || f.emitter == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if err := f.emitter.Emit(ctx, FlowRunStateChanged(run, initial, validated, f.Related(ctx, run))); err != nil {
		f.log.Warn("emitting a flow-run event", "flow_run_id", run.ID, "error", err)
	}
}

// Related reads what the run's event names about its flow, deployment, pool
// and parent task run. An object that cannot be read is left out.
func (f *FlowRunEvents) Related(ctx context.Context, run schema.FlowRun) FlowRunRelated {
	var rel FlowRunRelated
	if c := f.lookup(run.FlowID, func() (cachedRelated, error) {
		fl, err := f.reader.ReadFlow(ctx, run.FlowID)
		return cachedRelated{name: fl.Name, tags: fl.Tags}, err
	}); c.found {
		rel.FlowName, rel.FlowTags = c.name, c.tags
	}
	if id := run.DeploymentID; id != nil {
		if c := f.lookup(*id, func() (cachedRelated, error) {
			d, err := f.reader.ReadDeployment(ctx, *id)
			return cachedRelated{name: d.Name, tags: d.Tags}, err
		}); c.found {
			rel.DeploymentName, rel.DeploymentTags = c.name, c.tags
		}
	}
	if id := run.WorkPoolID; id != nil {
		if c := f.lookup(*id, func() (cachedRelated, error) {
			p, err := f.reader.ReadWorkPool(ctx, *id)
			return cachedRelated{pool: p.Type}, err
		}); c.found {
			rel.WorkPoolType = c.pool
		}
	}
	if id := run.ParentTaskRunID; id != nil {
		if c := f.lookup(*id, func() (cachedRelated, error) {
			tr, err := f.reader.ReadTaskRun(ctx, *id)
			return cachedRelated{name: tr.Name, tags: tr.Tags}, err
		}); c.found {
			rel.ParentTaskRun = &RelatedTaskRun{ID: *id, Name: c.name, Tags: c.tags}
		}
	}
	return rel
}

// lookup returns the cached object with this id (ids are uuids, unique
// across kinds), reading it when absent or expired. Misses are not cached:
// an object may be created right after.
func (f *FlowRunEvents) lookup(id uuid.UUID, read func() (cachedRelated, error)) cachedRelated {
	now := f.now()
	f.mu.Lock()
	c, ok := f.cache[id]
	f.mu.Unlock()
	if ok && now.Sub(c.at) < relatedTTL {
		return c
	}
	c, err := read()
	if err != nil {
		return cachedRelated{}
	}
	c.at, c.found = now, true
	f.mu.Lock()
	if len(f.cache) >= relatedCacheSize {
		clear(f.cache)
	}
	f.cache[id] = c
	f.mu.Unlock()
	return c
}
