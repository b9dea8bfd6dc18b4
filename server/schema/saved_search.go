package schema

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// SavedSearch is a named set of UI filters (the flow-runs page's saved
// views), unique by name.
type SavedSearch struct {
	ID      uuid.UUID           `json:"id"`
	Created time.Time           `json:"created"`
	Updated time.Time           `json:"updated"`
	Name    string              `json:"name"`
	Filters []SavedSearchFilter `json:"filters"`
}

// SavedSearchFilter is one filter of a saved search. The UI owns its
// meaning; the server only keeps it.
type SavedSearchFilter struct {
	Object    *string         `json:"object"`
	Property  *string         `json:"property"`
	Type      *string         `json:"type"`
	Operation *string         `json:"operation"`
	Value     json.RawMessage `json:"value"`
}

// IgnoresUnknownKeys: SavedSearchFilter is a PrefectBaseModel, which
// ignores keys it does not declare.
func (SavedSearchFilter) IgnoresUnknownKeys() {}

// SavedSearchCreate is the body of PUT /saved_searches/ (an upsert by name).
type SavedSearchCreate struct {
	Name    *string             `json:"name"`
	Filters []SavedSearchFilter `json:"filters"`
}

// Validate checks that every field Prefect requires is there (value may
// be null, but not absent) and fills the default filter list.
func (s *SavedSearchCreate) Validate() error {
	if s.Name == nil {
		return Invalid("name", "Field required")
	}
	for i, f := range s.Filters {
		loc := "filters." + strconv.Itoa(i)
		for _, field := range []struct {
			key string
			v   *string
		}{{"object", f.Object}, {"property", f.Property}, {"type", f.Type}, {"operation", f.Operation}} {
			if field.v == nil {
				return Invalid(loc+"."+field.key, "Field required")
			}
		}
		if len(f.Value) == 0 {
			return Invalid(loc+".value", "Field required")
		}
	}
	if s.Filters == nil {
		s.Filters = []SavedSearchFilter{}
	}
	return nil
}

// SavedSearchQuery is the body of POST /saved_searches/filter: a page only.
type SavedSearchQuery struct {
	Page
}
