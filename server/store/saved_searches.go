package store

import (
	"context"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// SavedSearches are the UI's named filter sets, unique by name.
type SavedSearches interface {
	// UpsertSavedSearch stores s, or replaces the filters of the saved
	// search of that name (keeping its id and times); created says which.
	UpsertSavedSearch(ctx context.Context, s schema.SavedSearchCreate) (out schema.SavedSearch, created bool, err error)
	ReadSavedSearch(ctx context.Context, id uuid.UUID) (schema.SavedSearch, error)
	// FilterSavedSearches returns a page of saved searches, by name.
	FilterSavedSearches(ctx context.Context, q schema.SavedSearchQuery) ([]schema.SavedSearch, error)
	DeleteSavedSearch(ctx context.Context, id uuid.UUID) error
}
