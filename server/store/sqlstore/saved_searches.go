package sqlstore

import (
	"context"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

const savedSearchColumns = `saved_search.id, saved_search.created, saved_search.updated, saved_search.name, saved_search.filters`

func scanSavedSearch(row scanner) (schema.SavedSearch, error) {
	var s schema.SavedSearch
	err := row.Scan(&s.ID, ts(&s.Created), ts(&s.Updated), &s.Name, jsonInto{&s.Filters})
	s.Filters = nonNil(s.Filters)
	return s, classify(err)
}

// UpsertSavedSearch inserts the saved search or, when the name is taken,
// replaces only its filters, as Prefect's ON CONFLICT update does (the id,
// created and updated stay those of the first PUT).
func (s *Store) UpsertSavedSearch(ctx context.Context, in schema.SavedSearchCreate) (schema.SavedSearch, bool, error) {
	var out schema.SavedSearch
	id := uuid.Must(uuid.NewV7())
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		now := s.clock()
		_, err := c.exec(ctx, `INSERT INTO saved_search (id, created, updated, name, filters) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET filters = excluded.filters`,
			id, now, now, *in.Name, mustJSON(nonNil(in.Filters)))
		if err != nil {
			return err
		}
		out, err = scanSavedSearch(c.queryRow(ctx, `SELECT `+savedSearchColumns+` FROM saved_search WHERE name = ?`, *in.Name))
		return err
	})
	return out, err == nil && out.ID == id, err
}

// ReadSavedSearch returns one saved search.
func (s *Store) ReadSavedSearch(ctx context.Context, id uuid.UUID) (schema.SavedSearch, error) {
	var out schema.SavedSearch
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = scanSavedSearch(c.queryRow(ctx, `SELECT `+savedSearchColumns+` FROM saved_search WHERE id = ?`, id))
		return err
	})
	return out, err
}

// FilterSavedSearches returns a page of saved searches, by name.
func (s *Store) FilterSavedSearches(ctx context.Context, q schema.SavedSearchQuery) ([]schema.SavedSearch, error) {
	var out []schema.SavedSearch
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = queryAll(ctx, c, scanSavedSearch, `SELECT `+savedSearchColumns+` FROM saved_search ORDER BY saved_search.name, saved_search.id`+s.page(q.Page))
		return err
	})
	return nonNil(out), err
}

// DeleteSavedSearch deletes one saved search.
func (s *Store) DeleteSavedSearch(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		return mustDelete(c.exec(ctx, `DELETE FROM saved_search WHERE id = ?`, id))
	})
}
