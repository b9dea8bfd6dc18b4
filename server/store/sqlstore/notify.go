package sqlstore

import (
	"context"
	"errors"
)

// Notify sends payloads, in order, as PostgreSQL notifications on channel,
// in one statement (so one transaction: listeners get them together, after
// the commit) over the store's pool. Each payload must be shorter than
// 8000 bytes. Other dialects have no notifications: it fails.
func (s *Store) Notify(ctx context.Context, channel string, payloads ...string) error {
	if !s.d.Notifies {
		return errors.New("notifications need PostgreSQL")
	}
	if len(payloads) == 0 {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	counts.statements.Add(1)
	_, err := s.writer.ExecContext(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", channel, payloads)
	return err
}
