package services

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeLock is a lock shared by electors in one process, for tests.
type fakeLock struct {
	mu     *sync.Mutex
	holder **fakeLock
	lost   chan struct{}
	// down: the replica's database connection is gone for good, so it cannot
	// take the lock again (otherwise it could win the race against B).
	down bool
}

func (l *fakeLock) TryAcquire(context.Context) (<-chan struct{}, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if *l.holder != nil || l.down {
		return nil, false, nil
	}
	*l.holder = l
	l.lost = make(chan struct{})
	return l.lost, true, nil
}

func (l *fakeLock) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if *l.holder == l {
		*l.holder = nil
	}
}

// breakConn simulates the holder's connection breaking: the lock frees.
func (l *fakeLock) breakConn() {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.holder = nil
	l.down = true
	close(l.lost)
}

type countingService struct{ running atomic.Int32 }

func (s *countingService) Start(context.Context) error { s.running.Add(1); return nil }
func (s *countingService) Stop()                       { s.running.Add(-1) }

func TestElectorRunsServicesOnTheLeaderOnly(t *testing.T) {
	var mu sync.Mutex
	var holder *fakeLock
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	la, lb := &fakeLock{mu: &mu, holder: &holder}, &fakeLock{mu: &mu, holder: &holder}
	sa, sb := &countingService{}, &countingService{}
	a := NewElector("a", la, 10*time.Millisecond, []Service{sa}, log)
	b := NewElector("b", lb, 10*time.Millisecond, []Service{sb}, log)
	require.NoError(t, a.Start(context.Background()))
	defer a.Stop()
	waitUntil(t, a.Leader)
	require.Equal(t, int32(1), sa.running.Load())
	require.NoError(t, b.Start(context.Background()))
	defer b.Stop()
	time.Sleep(50 * time.Millisecond)
	require.False(t, b.Leader())
	require.Equal(t, int32(0), sb.running.Load())

	// A's connection breaks: it stops at once, and B takes over.
	la.breakConn()
	waitUntil(t, b.Leader)
	waitUntil(t, func() bool { return sa.running.Load() == 0 })
	require.Equal(t, int32(1), sb.running.Load())
	require.False(t, a.Leader())

	b.Stop()
	require.Equal(t, int32(0), sb.running.Load())
	require.False(t, b.Leader())
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // bounds the wait only
	for !cond() {
		require.True(t, time.Now().Before(deadline), "condition not met")
		time.Sleep(5 * time.Millisecond)
	}
}
