package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeJSON encodes before it sends the status: a body that cannot be
// encoded is a 500 with Prefect's body, not a 201 with an empty one.
func TestWriteJSONEncodesBeforeTheStatus(t *testing.T) {
	rec := httptest.NewRecorder()
	require.NoError(t, writeJSON(rec, http.StatusCreated, map[string]int{"a": 1}))
	require.Equal(t, http.StatusCreated, rec.Code)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.JSONEq(t, `{"a":1}`, rec.Body.String())

	rec = httptest.NewRecorder()
	err := writeJSON(rec, http.StatusCreated, map[string]time.Time{"t": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	require.ErrorContains(t, err, "encoding the 201 response")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.JSONEq(t, `{"exception_message":"Internal Server Error"}`, rec.Body.String())
}
