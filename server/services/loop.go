package services

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Loop runs a pass at a fixed interval, from Start until Stop. A failed pass
// is logged and the next one runs on schedule: one bad pass never stops a
// service.
type Loop struct {
	name     string
	interval time.Duration
	pass     func(ctx context.Context) error
	log      *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewLoop returns a loop calling pass every interval.
func NewLoop(name string, interval time.Duration, pass func(ctx context.Context) error, log *slog.Logger) *Loop {
	return &Loop{name: name, interval: interval, pass: pass, log: log}
}

// Start runs the first pass at once and then every interval, in the background.
func (l *Loop) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		return errors.New(l.name + " is already running")
	}
	if l.interval <= 0 {
		return errors.New(l.name + ": the loop interval must be positive")
	}
	ctx, l.cancel = context.WithCancel(ctx)
	l.done = make(chan struct{})
	go l.run(ctx, l.done)
	return nil
}

// Stop ends the loop, waiting for a running pass to finish.
func (l *Loop) Stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.cancel, l.done = nil, nil
	l.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (l *Loop) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		if err := l.pass(ctx); err != nil && ctx.Err() == nil {
			l.log.Error("service pass failed", "service", l.name, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
