package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// IngestConfig configures an Ingestor.
type IngestConfig struct {
	// Publisher receives accepted events; required.
	Publisher Publisher
	// Limits bound each event; zero fields take Prefect's defaults.
	Limits Limits
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the server clock for Received; defaults to time.Now.
	Now func() time.Time
	// DedupeWindow is how many recent event ids are remembered to drop
	// resends; default 10,000 (clients resend up to ~700 unconfirmed events
	// each after a reconnect).
	DedupeWindow int
	// Storing says why events taken now could not be stored (the
	// persister's Err), or nil; while it is not nil, events from clients
	// are refused rather than acknowledged. Nil means always nil.
	Storing func() error
}

// Ingestor is the path every event from outside takes into the broker, from
// the WebSocket and from POST /api/events alike: validate, stamp Received,
// drop resends, publish.
type Ingestor struct {
	pub    Publisher
	limits Limits
	logger *slog.Logger
	now    func() time.Time
	seen   *recentIDs
	ready  func() error
}

// NewIngestor returns an Ingestor publishing to cfg.Publisher.
func NewIngestor(cfg IngestConfig) *Ingestor {
	in := &Ingestor{
		pub:    cfg.Publisher,
		limits: cfg.Limits.WithDefaults(),
		logger: cmp.Or(cfg.Logger, slog.Default()),
		now:    cfg.Now,
		seen:   newRecentIDs(cmp.Or(cfg.DedupeWindow, 10_000)),
		ready:  cfg.Storing,
	}
	if in.now == nil {
		in.now = time.Now
	}
	return in
}

// Ready is nil when events taken now will be stored, else why not: an error
// wrapping the store's ErrUnavailable or ErrTimeout. Intake from clients
// checks it before acknowledging, so a client keeps (and resends) what the
// server could not store instead of having it dropped later.
func (in *Ingestor) Ready() error {
	if in.ready == nil {
		return nil
	}
	if err := in.ready(); err != nil {
		return fmt.Errorf("events cannot be stored now: %w", err)
	}
	return nil
}

// Limits returns the limits in force, defaults filled.
func (in *Ingestor) Limits() Limits { return in.limits }

// Receive validates one event as a client sent it and stamps it received.
// Errors are *InvalidEventError.
func (in *Ingestor) Receive(raw []byte) (schema.Event, error) {
	ev, err := DecodeEvent(raw, in.limits)
	if err != nil {
		return schema.Event{}, err
	}
	ev.Received = in.stamp()
	return ev, nil
}

// Ingest handles the body of POST /api/events, a JSON array of events. The
// whole batch is validated first: if any event is invalid nothing is
// published, and the *InvalidEventError names its index and the reason.
// (Prefect validates the batch as one request body too.)
func (in *Ingestor) Ingest(ctx context.Context, body []byte) error {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalid("", "Input should be a valid list")
		}
		return invalid("", "Invalid JSON: "+err.Error())
	}
	if raws == nil { // the body was null
		return invalid("", "Input should be a valid list")
	}
	events := make([]schema.Event, len(raws))
	for i, raw := range raws {
		ev, err := in.Receive(raw)
		if err != nil {
			var ie *InvalidEventError
			if errors.As(err, &ie) {
				ie.Index = i
			}
			return err
		}
		events[i] = ev
	}
	if err := in.Ready(); err != nil {
		return err
	}
	return in.Publish(ctx, events...)
}

// Emit publishes events the server itself produced (flow-run state changes):
// they are stamped received now and skip validation, as in Prefect.
func (in *Ingestor) Emit(ctx context.Context, events ...schema.Event) error {
	received := in.stamp()
	for i := range events {
		events[i].Received = received
	}
	return in.Publish(ctx, events...)
}

// Publish drops events whose id was published recently, then publishes the
// rest. If publishing fails their ids are forgotten again, so the client's
// resend is not mistaken for a duplicate.
func (in *Ingestor) Publish(ctx context.Context, events ...schema.Event) error {
	fresh := events[:0:0]
	for _, ev := range events {
		if in.seen.add(ev.ID) {
			fresh = append(fresh, ev)
		} else {
			in.logger.Debug("dropping resent event", "event_id", ev.ID, "event", ev.Event)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if err := in.pub.Publish(ctx, fresh...); err != nil {
		for _, ev := range fresh {
			in.seen.forget(ev.ID)
		}
		return err
	}
	return nil
}

// stamp is the server's receive time: UTC, microseconds like Python.
func (in *Ingestor) stamp() time.Time {
	return in.now().UTC().Truncate(time.Microsecond)
}
