package services

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Service is a background service the Elector starts and stops.
type Service interface {
	Start(ctx context.Context) error
	Stop()
}

// Lock is a cluster-wide lock that at most one process holds at a time.
type Lock interface {
	// TryAcquire tries once, without waiting for another holder. When ok,
	// lost is closed if the lock is lost (its connection broke) before
	// Release.
	TryAcquire(ctx context.Context) (lost <-chan struct{}, ok bool, err error)
	// Release gives the lock up (if held) and frees what it holds.
	Release()
}

// AlwaysLock is the lock of a single process (SQLite): always acquired,
// never lost.
type AlwaysLock struct{}

// TryAcquire succeeds.
func (AlwaysLock) TryAcquire(context.Context) (<-chan struct{}, bool, error) {
	return make(chan struct{}), true, nil
}

// Release does nothing.
func (AlwaysLock) Release() {}

// Elector runs services on the one process that holds a Lock: it tries to
// acquire the lock every Retry, starts the services once it holds it, and
// stops them at once when the lock is lost, then tries again.
type Elector struct {
	name     string
	lock     Lock
	retry    time.Duration
	services []Service
	log      *slog.Logger

	leader atomic.Bool

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewElector returns an elector of services under lock, named name in logs.
func NewElector(name string, lock Lock, retry time.Duration, services []Service, log *slog.Logger) *Elector {
	if retry <= 0 {
		retry = 5 * time.Second
	}
	return &Elector{name: name, lock: lock, retry: retry, services: services, log: log}
}

// Leader reports whether this process holds the lock and runs the services.
func (e *Elector) Leader() bool { return e.leader.Load() }

// Start campaigns in the background. It returns at once: the services start
// when the lock is acquired.
func (e *Elector) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel != nil {
		return errors.New(e.name + " is already running")
	}
	ctx, e.cancel = context.WithCancel(ctx)
	e.done = make(chan struct{})
	go e.run(ctx, e.done)
	return nil
}

// Stop stops the services if they run and releases the lock.
func (e *Elector) Stop() {
	e.mu.Lock()
	cancel, done := e.cancel, e.done
	e.cancel, e.done = nil, nil
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (e *Elector) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	defer e.lock.Release()
	failing := false
	for {
		lost, ok, err := e.lock.TryAcquire(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				e.log.Warn("leader election: cannot reach the lock; retrying", "services", e.name, "error", err, "retry", e.retry)
			}
			failing = true
		case ok:
			failing = false
			e.lead(ctx, lost)
		default:
			failing = false
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.retry):
		}
	}
}

// lead runs the services until the lock is lost or ctx ends.
func (e *Elector) lead(ctx context.Context, lost <-chan struct{}) {
	defer e.lock.Release()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var started []Service
	stop := func() {
		for i := len(started) - 1; i >= 0; i-- {
			started[i].Stop()
		}
	}
	for _, svc := range e.services {
		if err := svc.Start(sctx); err != nil {
			e.log.Error("leader election: a service failed to start; giving leadership up", "services", e.name, "error", err)
			stop()
			return
		}
		started = append(started, svc)
	}
	e.leader.Store(true)
	e.log.Info("leadership acquired: running the singleton services", "services", e.name)
	select {
	case <-lost:
		e.leader.Store(false)
		e.log.Warn("leadership lost: stopping the singleton services", "services", e.name)
		cancel()
		stop()
	case <-ctx.Done():
		stop()
		e.leader.Store(false)
		e.log.Info("leadership released", "services", e.name)
	}
}
