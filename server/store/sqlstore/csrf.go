package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/store"
)

// IssueCSRFToken gives the client a fresh random token, replacing its old one.
func (s *Store) IssueCSRFToken(ctx context.Context, client string, expiration time.Time) (store.CSRFToken, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return store.CSRFToken{}, err
	}
	now := s.clock()
	t := store.CSRFToken{ID: uuid.Must(uuid.NewV7()), Created: now, Updated: now, Token: hex.EncodeToString(raw),
		Client: client, Expiration: expiration.UTC().Truncate(time.Microsecond)}
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		_, err := c.exec(ctx, `INSERT INTO csrf_token (id, created, updated, token, client, expiration) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (client) DO UPDATE SET token = excluded.token, expiration = excluded.expiration, updated = excluded.updated`,
			t.ID, now, now, t.Token, client, t.Expiration)
		return err
	})
	return t, err
}

// ReadCSRFToken returns the client's token.
func (s *Store) ReadCSRFToken(ctx context.Context, client string) (store.CSRFToken, error) {
	var t store.CSRFToken
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		return classify(c.queryRow(ctx, `SELECT id, created, updated, token, client, expiration FROM csrf_token WHERE client = ?`, client).
			Scan(&t.ID, ts(&t.Created), ts(&t.Updated), &t.Token, &t.Client, ts(&t.Expiration)))
	})
	return t, err
}
