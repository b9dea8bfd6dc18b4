package schema

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The answers are pydantic 2.13's for a datetime field (naive taken as UTC,
// as Prefect's DateTime does); the UTC range check is this server's.
func TestParseDateTime(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"9999-12-31T23:59:59.999999Z":        "9999-12-31T23:59:59.999999Z",
		"0001-01-01T00:00:00Z":               "0001-01-01T00:00:00Z",
		"2026-11-30 17:10:55.789421+00:00":   "2026-11-30T17:10:55.789421Z",
		"2026-11-30T19:10:55+02:00":          "2026-11-30T17:10:55Z",
		"2026-11-30T19:10:55+0200":           "2026-11-30T17:10:55Z",
		"2026-11-30T17:10:55":                "2026-11-30T17:10:55Z",
		"2026-11-30t17:10:55z":               "2026-11-30T17:10:55Z",
		"2026-11-30_17:10":                   "2026-11-30T17:10:00Z",
		"2026-11-30":                         "2026-11-30T00:00:00Z",
		"2026-01-01T10:00:00,5Z":             "2026-01-01T10:00:00.5Z",
		"2026-01-01T10:00:00.1234567891234Z": "2026-01-01T10:00:00.123456Z",
		"2026-01-01T10:00:00+23:59":          "2025-12-31T10:01:00Z",
		"1700000000":                         "2023-11-14T22:13:20Z",
		"1700000000.5":                       "2023-11-14T22:13:20.5Z",
		"253402300800":                       "1978-01-11T21:31:40.8Z", // past 2e10: milliseconds
		"9999-12-31T09:59:59.999999-14:00":   "9999-12-31T23:59:59.999999Z",
	} {
		got, err := ParseDateTime(in, time.UTC)
		require.Nil(t, err, in)
		require.Equal(t, want, got.Format(time.RFC3339Nano), in)
	}
	for in, msg := range map[string]string{
		"10000-01-01T00:00:00Z":     "Input should be a valid datetime or date, invalid date separator, expected `-`",
		"0000-01-01T00:00:00Z":      "Input should be a valid datetime, year 0 is out of range",
		"9999-12-31T23:00:00-14:00": "Input should be a valid datetime, the time in UTC must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z",
		"0001-01-01T00:00:00+14:00": "Input should be a valid datetime, the time in UTC must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z",
		"":                          "Input should be a valid datetime or date, input is too short",
		"2026-13-01T00:00:00Z":      "Input should be a valid datetime or date, month value is outside expected range of 1-12",
		"2026-02-30T00:00:00Z":      "Input should be a valid datetime or date, day value is outside expected range",
		" 2026-01-01T10:00:00Z":     "Input should be a valid datetime or date, invalid character in year",
		"2026-1-01T10:00:00Z":       "Input should be a valid datetime or date, invalid character in month",
		"2026-01-01T24:00:00Z":      "Input should be a valid datetime or date, hour value is outside expected range of 0-23",
		"1e20":                      "Input should be a valid datetime or date, invalid character in year",
		"yesterday":                 "Input should be a valid datetime or date, invalid character in year",
	} {
		_, err := ParseDateTime(in, time.UTC)
		require.NotNil(t, err, in)
		require.Equal(t, msg, err.Msg, in)
	}
	// A naive time is in the zone given (a schedule's anchor date).
	ny, _ := time.LoadLocation("America/New_York")
	got, err := ParseDateTime("2026-01-01T00:00:00", ny)
	require.Nil(t, err)
	require.Equal(t, "2026-01-01T05:00:00Z", got.Format(time.RFC3339))
}

func TestDateTimeJSON(t *testing.T) {
	t.Parallel()
	var v struct {
		A *DateTime `json:"a"`
		B DateTime  `json:"b"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"a": 1.7e9, "b": "2026-01-01T00:00:00+01:00"}`), &v))
	require.Equal(t, "2023-11-14T22:13:20Z", v.A.Ptr().Format(time.RFC3339))
	require.Equal(t, "2025-12-31T23:00:00Z", v.B.Format(time.RFC3339))
	out, err := json.Marshal(v)
	require.NoError(t, err)
	require.JSONEq(t, `{"a":"2023-11-14T22:13:20Z","b":"2025-12-31T23:00:00Z"}`, string(out))
	require.Nil(t, (*DateTime)(nil).Ptr())

	for body, msg := range map[string]string{
		`{"a": true}`:        "Input should be a valid datetime",
		`{"a": 1e20}`:        "Input should be a valid datetime, dates after 9999 are not supported as unix timestamps",
		`{"b": "yesterday"}`: "Input should be a valid datetime or date, invalid character in year",
	} {
		err := json.Unmarshal([]byte(body), &v)
		var te *json.UnmarshalTypeError
		require.ErrorAs(t, err, &te, body)
		dt, ok := DateTimeDecodeError(te)
		require.True(t, ok, body)
		require.Equal(t, msg, dt.Msg, body)
	}
}
