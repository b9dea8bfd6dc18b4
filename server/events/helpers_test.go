package events

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/internal/testlog"
	"prefectgo.dev/prefectgo/server/schema"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func bufferLogger() (*slog.Logger, *testlog.Buffer) {
	var b testlog.Buffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// recordingPublisher keeps what is published; err, when set, fails Publish.
type recordingPublisher struct {
	mu     sync.Mutex
	events []schema.Event
	err    error
}

func (p *recordingPublisher) Publish(_ context.Context, events ...schema.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.events = append(p.events, events...)
	return nil
}

func (p *recordingPublisher) published() []schema.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]schema.Event(nil), p.events...)
}

// receiveN takes n events from a subscription, failing after a timeout.
func receiveN(t testing.TB, sub *Subscription, n int) []schema.Event {
	t.Helper()
	var got []schema.Event
	timeout := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case ev := <-sub.Events():
			got = append(got, *ev)
		case <-timeout:
			require.FailNowf(t, "timed out", "received %d of %d events", len(got), n)
		}
	}
	return got
}

// requireNothing asserts that nothing more arrives on a subscription soon.
func requireNothing(t testing.TB, sub *Subscription) {
	t.Helper()
	select {
	case ev := <-sub.Events():
		require.FailNowf(t, "unexpected event", "%s %s", ev.Event, ev.ID)
	case <-time.After(50 * time.Millisecond):
	}
}

// sampleEvents are the events the Prefect 3.9.1 client sent over
// /api/events/in for two small flows (see testdata), as raw frames.
func sampleEvents(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/client-3.9.1-events.jsonl")
	require.NoError(t, err)
	defer f.Close()
	var raws [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		raws = append(raws, append([]byte(nil), sc.Bytes()...))
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, raws)
	return raws
}

func itoa(n int) string { return strconv.Itoa(n) }
