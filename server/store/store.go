// Package store defines the server's persistence: narrow interfaces by
// aggregate, with schema types in and out. Backends live in the sqlite and
// postgres packages and share one implementation (sqlstore) that differs
// only in dialect; storetest holds the behavioural suite both must pass.
//
// Reads return schema.ErrNotFound for a missing object. Every write is one
// transaction: a request never leaves a half-written row.
package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Store is everything the server keeps.
type Store interface {
	Flows
	FlowRuns
	FlowRunInputs
	TaskRuns
	TaskRunQueue
	RunViews
	Logs
	Artifacts
	Events
	Vacuum
	CSRFTokens
	Variables
	SavedSearches
	Automations
	AutomationState
	ConcurrencyLimits
	Blocks
	WorkPools
	Deployments
	Scheduling
	Maintenance
	Foreman

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Dialect names the backend: "sqlite" or "postgresql".
	Dialect() string
	Close() error
}

// Flows are upserted by name.
type Flows interface {
	// UpsertFlow returns the flow named f.Name, creating it if needed;
	// created says which.
	UpsertFlow(ctx context.Context, f schema.FlowCreate) (flow schema.Flow, created bool, err error)
	ReadFlow(ctx context.Context, id uuid.UUID) (schema.Flow, error)
	ReadFlowByName(ctx context.Context, name string) (schema.Flow, error)
	FilterFlows(ctx context.Context, q schema.Query) ([]schema.Flow, error)
	CountFlows(ctx context.Context, q schema.Query) (int, error)
	UpdateFlow(ctx context.Context, id uuid.UUID, u schema.FlowUpdate) error
	// DeleteFlow deletes the flow and, with it, its runs.
	DeleteFlow(ctx context.Context, id uuid.UUID) error
}

// FlowRuns are read, updated and deleted here; they are created and change
// state only through runs.Store (server/runs), which the runs service alone
// calls.
type FlowRuns interface {
	ReadFlowRun(ctx context.Context, id uuid.UUID) (schema.FlowRun, error)
	UpdateFlowRun(ctx context.Context, id uuid.UUID, u schema.FlowRunUpdate) error
	// MergeFlowRunLabels adds labels to the run's labels, replacing equal keys.
	MergeFlowRunLabels(ctx context.Context, id uuid.UUID, labels json.RawMessage) error
	DeleteFlowRun(ctx context.Context, id uuid.UUID) error
	FilterFlowRuns(ctx context.Context, q schema.Query) ([]schema.FlowRun, error)
	CountFlowRuns(ctx context.Context, q schema.Query) (int, error)
	ReadFlowRunState(ctx context.Context, id uuid.UUID) (schema.State, error)
	// ReadFlowRunStates returns a run's state history, oldest first.
	ReadFlowRunStates(ctx context.Context, flowRunID uuid.UUID) ([]schema.State, error)
	// NextScheduledFlowRuns returns, for each of the flows that has one, its
	// SCHEDULED run with the earliest next_scheduled_start_time.
	NextScheduledFlowRuns(ctx context.Context, flowIDs []uuid.UUID) (map[uuid.UUID]schema.SimpleNextFlowRun, error)
}

// TaskRuns are read, updated and deleted here; they are created and change
// state through runs.Store (server/runs), or as the task-run recorder
// reports them.
type TaskRuns interface {
	ReadTaskRun(ctx context.Context, id uuid.UUID) (schema.TaskRun, error)
	UpdateTaskRun(ctx context.Context, id uuid.UUID, u schema.TaskRunUpdate) error
	DeleteTaskRun(ctx context.Context, id uuid.UUID) error
	FilterTaskRuns(ctx context.Context, q schema.Query) ([]schema.TaskRun, error)
	CountTaskRuns(ctx context.Context, q schema.Query) (int, error)
	ReadTaskRunState(ctx context.Context, id uuid.UUID) (schema.State, error)
	ReadTaskRunStates(ctx context.Context, taskRunID uuid.UUID) ([]schema.State, error)
	// RecordTaskRunStates stores task runs as client-side orchestration
	// reported them in events (the task-run recorder). Each record upserts the
	// run by id and inserts its state by state id, ignoring a state already
	// stored; the run's current state moves only to a newer state, so
	// replayed or reordered events never move a run backwards.
	RecordTaskRunStates(ctx context.Context, runs []schema.TaskRun) error
}

// Logs are append-only.
type Logs interface {
	CreateLogs(ctx context.Context, logs []schema.LogCreate) ([]schema.Log, error)
	FilterLogs(ctx context.Context, q schema.LogQuery) ([]schema.Log, error)
}

// Artifacts keep, per key, a pointer to the latest one.
type Artifacts interface {
	CreateArtifact(ctx context.Context, a schema.ArtifactCreate) (schema.Artifact, error)
	ReadArtifact(ctx context.Context, id uuid.UUID) (schema.Artifact, error)
	ReadLatestArtifact(ctx context.Context, key string) (schema.Artifact, error)
	UpdateArtifact(ctx context.Context, id uuid.UUID, u schema.ArtifactUpdate) error
	DeleteArtifact(ctx context.Context, id uuid.UUID) error
	FilterArtifacts(ctx context.Context, q schema.ArtifactQuery) ([]schema.Artifact, error)
	CountArtifacts(ctx context.Context, q schema.ArtifactQuery) (int, error)
	// FilterLatestArtifacts is FilterArtifacts over the latest artifact of
	// each key, as collections.
	FilterLatestArtifacts(ctx context.Context, q schema.ArtifactQuery) ([]schema.ArtifactCollection, error)
	CountLatestArtifacts(ctx context.Context, q schema.ArtifactQuery) (int, error)
}

// Events are stored once per id, with one event_resources row per resource
// and related resource so filters on resources are indexed.
type Events interface {
	// InsertEvents stores events whose ids are new and returns how many were.
	InsertEvents(ctx context.Context, events []schema.Event) (int, error)
	// ReadEvents returns stored events in order of occurrence (oldest first),
	// at most limit, for tests and the events API.
	ReadEvents(ctx context.Context, f EventFilter, limit int) ([]schema.Event, error)
	CountEvents(ctx context.Context, f EventFilter) (int, error)
	// QueryEvents returns the page [offset, offset+limit) of the events
	// matching a resolved Prefect filter, in its order (occurred, then id).
	QueryEvents(ctx context.Context, f schema.EventFilter, offset, limit int) ([]schema.Event, error)
	// ScanEventCounts calls fn for each event matching f, for counting.
	ScanEventCounts(ctx context.Context, f schema.EventFilter, fn func(EventCountRow)) error
	// DeleteEventsBefore deletes up to limit of the oldest events that
	// occurred before cutoff, with their resource rows, in one transaction,
	// and returns how many of each it deleted. Batches keep locks short; a
	// pass stopped between batches has lost nothing it should keep.
	DeleteEventsBefore(ctx context.Context, cutoff time.Time, limit int) (events, resources int, err error)
}

// Vacuum deletes old flow runs and what they leave behind (Prefect's db
// vacuum of flow_runs). Each call is one bounded transaction, so a pass
// stopped between calls has lost nothing it should keep.
type Vacuum interface {
	// DeleteFlowRunsEndedBefore deletes up to limit of the oldest top-level
	// flow runs in a terminal state that ended before cutoff, with their
	// states, task runs and task-run states, and returns how many runs went.
	DeleteFlowRunsEndedBefore(ctx context.Context, cutoff time.Time, limit int) (int, error)
	// DeleteOrphanedLogs deletes up to limit logs whose flow run is gone.
	DeleteOrphanedLogs(ctx context.Context, limit int) (int, error)
	// DeleteOrphanedArtifacts deletes up to limit artifacts whose flow run is gone.
	DeleteOrphanedArtifacts(ctx context.Context, limit int) (int, error)
}

// EventFilter selects stored events. Empty fields match everything.
type EventFilter struct {
	Names       []string
	ResourceIDs []string // the event's resource or any related resource
	Since       *time.Time
	Until       *time.Time
	// Match adds a Prefect EventFilter's criteria (resolved: see
	// schema.EventFilter.Resolve).
	Match *schema.EventFilter
}

// EventCountRow is what counting events by time, name or resource needs
// of one event.
type EventCountRow struct {
	Occurred   time.Time
	Event      string
	ResourceID string
	Resource   schema.Resource
}

// CSRFToken is a token issued to one client.
type CSRFToken struct {
	ID         uuid.UUID `json:"id"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	Token      string    `json:"token"`
	Client     string    `json:"client"`
	Expiration time.Time `json:"expiration"`
}

// CSRFTokens hold one token per client.
type CSRFTokens interface {
	// IssueCSRFToken replaces the client's token with a fresh one.
	IssueCSRFToken(ctx context.Context, client string, expiration time.Time) (CSRFToken, error)
	// ReadCSRFToken returns the client's token, or schema.ErrNotFound.
	ReadCSRFToken(ctx context.Context, client string) (CSRFToken, error)
}
