package events

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

// recordingStore implements the two store methods the services call: it
// keeps each call's batch, can fail the next calls, and can hold calls until
// released.
type recordingStore struct {
	mu      sync.Mutex
	events  [][]schema.Event
	runs    [][]schema.TaskRun
	failing int           // fail this many more calls
	err     error         // what failing calls return; errStoreDown if nil
	hold    chan struct{} // when set, calls wait for it to close
	calls   chan struct{} // signalled on every call, if set
}

var errStoreDown = errors.New("store down")

func (s *recordingStore) enter() error {
	if s.calls != nil {
		s.calls <- struct{}{}
	}
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing > 0 {
		s.failing--
		return cmp.Or(s.err, errStoreDown)
	}
	return nil
}

func (s *recordingStore) InsertEvents(_ context.Context, events []schema.Event) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, events)
	return len(events), nil
}

func (s *recordingStore) RecordTaskRunStates(_ context.Context, runs []schema.TaskRun) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, runs)
	return nil
}

func (s *recordingStore) eventBatches() [][]schema.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]schema.Event(nil), s.events...)
}

func (s *recordingStore) allEvents() []schema.Event {
	var all []schema.Event
	for _, b := range s.eventBatches() {
		all = append(all, b...)
	}
	return all
}

func (s *recordingStore) allRuns() []schema.TaskRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []schema.TaskRun
	for _, b := range s.runs {
		all = append(all, b...)
	}
	return all
}

func TestPersisterWritesEverything(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	st := &recordingStore{}
	p := NewPersister(b, st, PersisterConfig{BatchSize: 4}, discardLogger())
	require.NoError(t, p.Start(t.Context()))
	require.Error(t, p.Start(t.Context()), "already running")

	evs := testEvents(10)
	require.NoError(t, b.Publish(t.Context(), evs...))
	require.Eventually(t, func() bool { return len(st.allEvents()) == 10 }, 5*time.Second, time.Millisecond)
	p.Stop()
	p.Stop() // idempotent

	require.ElementsMatch(t, evs, st.allEvents()) // batches may be written side by side
	for _, batch := range st.eventBatches() {
		require.LessOrEqual(t, len(batch), 4)
	}
}

func TestPersisterBatchesWhileWritesRun(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	st := &recordingStore{hold: make(chan struct{}), calls: make(chan struct{}, 10)}
	p := NewPersister(b, st, PersisterConfig{BatchSize: 20}, discardLogger())
	require.NoError(t, p.Start(t.Context()))
	defer p.Stop()
	release := sync.OnceFunc(func() { close(st.hold) })
	defer release() // before Stop, which waits for the writes

	// Each of the first events is written at once, alone, though the
	// writes before it have not ended.
	evs := testEvents(persistWriters + 5)
	for i := range persistWriters {
		require.NoError(t, b.Publish(t.Context(), evs[i]))
		select {
		case <-st.calls:
		case <-time.After(5 * time.Second):
			t.Fatalf("write %d did not begin while the writes before it ran", i+1)
		}
	}
	// No more: the rest wait for a write to end, the first of them taken as
	// a batch, the others queued behind it, to be taken as one.
	require.NoError(t, b.Publish(t.Context(), evs[persistWriters:]...))
	require.Never(t, func() bool { return len(st.calls) > 0 }, 50*time.Millisecond, time.Millisecond)
	release()

	require.Eventually(t, func() bool { return len(st.allEvents()) == len(evs) }, 5*time.Second, time.Millisecond)
	require.ElementsMatch(t, evs, st.allEvents())
	require.LessOrEqual(t, len(st.eventBatches()), persistWriters+2)
}

func TestPersisterLingersForAFullerBatch(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	st := &recordingStore{}
	p := NewPersister(b, st, PersisterConfig{FlushInterval: time.Hour}, discardLogger())
	require.NoError(t, p.Start(t.Context()))
	defer p.Stop()

	// The first is taken and waits, unwritten, for the rest.
	evs := testEvents(persistLeast)
	require.NoError(t, b.Publish(t.Context(), evs[0]))
	require.Eventually(t, func() bool { return p.loop.Backlog() == 0 }, 5*time.Second, time.Millisecond)
	require.Never(t, func() bool { return len(st.allEvents()) > 0 }, 50*time.Millisecond, time.Millisecond)
	for _, ev := range evs[1:] {
		require.NoError(t, b.Publish(t.Context(), ev))
	}
	require.Eventually(t, func() bool { return len(st.allEvents()) == persistLeast }, 5*time.Second, time.Millisecond)
	require.Equal(t, [][]schema.Event{evs}, st.eventBatches())
}

func TestPersisterWritesALoneEventAfterTheInterval(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	st := &recordingStore{}
	p := NewPersister(b, st, PersisterConfig{FlushInterval: 10 * time.Millisecond}, discardLogger())
	require.NoError(t, p.Start(t.Context()))
	defer p.Stop()

	evs := testEvents(1)
	require.NoError(t, b.Publish(t.Context(), evs...))
	require.Eventually(t, func() bool { return len(st.allEvents()) == 1 }, 5*time.Second, time.Millisecond)
	require.Equal(t, evs, st.allEvents())
}

func TestPersisterStopEndsTheWait(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"stop", "cancel"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			b := NewBroker()
			st := &recordingStore{}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			p := NewPersister(b, st, PersisterConfig{FlushInterval: time.Hour}, discardLogger())
			require.NoError(t, p.Start(ctx))

			evs := testEvents(3)
			require.NoError(t, b.Publish(t.Context(), evs...))
			// Taken, so the batch waits; an hour's linger would hold it.
			require.Eventually(t, func() bool { return p.loop.Backlog() == 0 }, 5*time.Second, time.Millisecond)
			if how == "cancel" {
				cancel()
				require.Eventually(t, func() bool { return len(st.allEvents()) == 3 }, 5*time.Second, time.Millisecond)
			}
			p.Stop()
			require.Equal(t, evs, st.allEvents())
		})
	}
}

func TestPersisterRetriesThenDrops(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	st := &recordingStore{failing: 2}
	logger, logs := bufferLogger()
	p := NewPersister(b, st, PersisterConfig{MaxAttempts: 3, Backoff: time.Millisecond}, logger)
	require.NoError(t, p.Start(t.Context()))
	defer p.Stop()

	evs := testEvents(1)
	require.NoError(t, b.Publish(t.Context(), evs...))
	require.Eventually(t, func() bool { return len(st.allEvents()) == 1 }, 5*time.Second, time.Millisecond)
	require.Contains(t, logs.String(), "write failed; retrying")
	require.Contains(t, logs.String(), "attempt=2")

	st.mu.Lock()
	st.failing = 3
	st.mu.Unlock()
	require.NoError(t, b.Publish(t.Context(), testEvents(1)...))
	require.Eventually(t, func() bool {
		return containsAll(logs.String(), "dropping events after failed writes", "attempts=3", "dropped_total=1",
			"service=event-persister")
	}, 5*time.Second, time.Millisecond)

	later := testEvents(1)
	require.NoError(t, b.Publish(t.Context(), later...))
	require.Eventually(t, func() bool { return len(st.allEvents()) == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, later[0], st.allEvents()[1])
}

func TestPersisterStopFlushesQueue(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"stop", "cancel"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			b := NewBroker()
			st := &recordingStore{hold: make(chan struct{}), calls: make(chan struct{}, 100)}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			p := NewPersister(b, st, PersisterConfig{BatchSize: 3}, discardLogger())
			require.NoError(t, p.Start(ctx))

			evs := testEvents(10)
			require.NoError(t, b.Publish(t.Context(), evs...))
			<-st.calls // one write in progress, the rest queued
			close(st.hold)
			if how == "cancel" {
				cancel() // writes do not inherit the cancellation
			}
			p.Stop()
			require.ElementsMatch(t, evs, st.allEvents())
		})
	}
}

func TestRecorderRecordsClientTaskRuns(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	st := &recordingStore{}
	logger, logs := bufferLogger()
	r := NewRecorder(b, st, RecorderConfig{BatchSize: 5}, logger)
	require.NoError(t, r.Start(t.Context()))

	in := NewIngestor(IngestConfig{Publisher: b, Logger: logger})
	raws := sampleEvents(t)
	broken := eventJSON() // a task-run event the recorder cannot read
	broken["event"] = "prefect.task-run.Running"
	broken["resource"] = map[string]any{"prefect.resource.id": "prefect.task-run.nope", "prefect.orchestration": "client"}
	raws = append(raws[:5:5], append([][]byte{mustJSON(t, broken)}, raws[5:]...)...)
	for _, raw := range raws {
		ev, err := in.Receive(raw)
		require.NoError(t, err)
		require.NoError(t, in.Publish(t.Context(), ev))
	}
	r.Stop() // drains

	runs := st.allRuns()
	require.Len(t, runs, 16, "18 sample events less 2 heartbeats; the broken one skipped")
	require.Contains(t, logs.String(), "skipping unreadable task-run event")
	require.Contains(t, logs.String(), "resource_id=prefect.task-run.nope")

	// Each run's states arrive in the order the client sent them.
	byRun := map[uuid.UUID][]string{}
	for _, tr := range runs {
		byRun[tr.ID] = append(byRun[tr.ID], *tr.StateName)
	}
	require.Equal(t, []string{"Pending", "Running", "Retrying", "Failed"},
		byRun[uuid.MustParse("01a22d46-0aaa-7619-88c5-f0605a6570d4")])
	require.Equal(t, []string{"Pending", "Running", "Completed"},
		byRun[uuid.MustParse("01a22d46-0a30-71dc-ac82-c492a06cf4e0")])
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, batch := range st.runs {
		require.LessOrEqual(t, len(distinctRuns(batch)), 5, "the batch size counts task runs")
	}
}

// With a batch size of one task run, the states of a run that queue while a
// write is under way go in the next write together, and the next run's first
// state starts the write after.
func TestRecorderBatchesATaskRunsQueuedStates(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	st := &recordingStore{hold: make(chan struct{}), calls: make(chan struct{}, 16)}
	r := NewRecorder(b, st, RecorderConfig{BatchSize: 1}, discardLogger())
	require.NoError(t, r.Start(t.Context()))

	in := NewIngestor(IngestConfig{Publisher: b, Logger: discardLogger()})
	a, c := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	publish := func(run uuid.UUID, state string) {
		ev, err := in.Receive(mustJSON(t, taskRunEventJSON(run, state)))
		require.NoError(t, err)
		require.NoError(t, in.Publish(t.Context(), ev))
	}
	publish(a, "Pending")
	<-st.calls // the first write holds; the rest queue behind it
	publish(a, "Running")
	publish(a, "Completed")
	publish(c, "Pending")
	publish(c, "Running")
	close(st.hold)
	r.Stop()

	st.mu.Lock()
	defer st.mu.Unlock()
	name := map[uuid.UUID]string{a: "a", c: "c"}
	var got [][]string
	for _, batch := range st.runs {
		var states []string
		for _, tr := range batch {
			states = append(states, name[tr.ID]+":"+*tr.StateName)
		}
		got = append(got, states)
	}
	require.Equal(t, [][]string{{"a:Pending"}, {"a:Running", "a:Completed"}, {"c:Pending", "c:Running"}}, got)
}

// taskRunEventJSON is the client's event for a task run entering state.
func taskRunEventJSON(run uuid.UUID, state string) map[string]any {
	return map[string]any{
		"id":       uuid.NewString(),
		"occurred": time.Now().UTC().Format(time.RFC3339Nano),
		"event":    "prefect.task-run." + state,
		"resource": map[string]any{"prefect.resource.id": "prefect.task-run." + run.String(), "prefect.orchestration": "client"},
		"payload": map[string]any{
			"validated_state": map[string]any{"type": strings.ToUpper(state), "name": state},
			"task_run":        map[string]any{"task_key": "t"},
		},
	}
}

func distinctRuns(batch []schema.TaskRun) map[uuid.UUID]bool {
	ids := map[uuid.UUID]bool{}
	for _, tr := range batch {
		ids[tr.ID] = true
	}
	return ids
}

func TestRecorderRetries(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	st := &recordingStore{failing: 1}
	r := NewRecorder(b, st, RecorderConfig{Backoff: time.Millisecond}, discardLogger())
	require.NoError(t, r.Start(t.Context()))
	defer r.Stop()

	ev, err := DecodeEvent(sampleEvents(t)[1], Limits{})
	require.NoError(t, err)
	require.NoError(t, b.Publish(t.Context(), ev))
	require.Eventually(t, func() bool { return len(st.allRuns()) == 1 }, 5*time.Second, time.Millisecond)
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
