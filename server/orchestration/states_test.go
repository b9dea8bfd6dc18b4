package orchestration

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestWaitSeconds(t *testing.T) {
	cases := []struct {
		ahead time.Duration
		want  int
	}{
		{10 * time.Second, 10},
		{10*time.Second + 400*time.Millisecond, 10},
		{10*time.Second + 600*time.Millisecond, 11},
		{10*time.Second + 500*time.Millisecond, 10}, // Python rounds half to even
		{600 * time.Millisecond, 1},
		{500 * time.Millisecond, 0},
		{0, 0},
		{-400 * time.Millisecond, 0},
		{-2 * time.Second, -2},
		{1500 * time.Nanosecond, 0}, // below Python's microsecond resolution
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, waitSeconds(t0.Add(tc.ahead), t0), tc.ahead)
	}
}

func TestPersistedResult(t *testing.T) {
	cases := []struct {
		data string // "" for no data
		want bool
	}{
		{"", false},
		{`null`, false},
		{`{}`, false}, // empty: Python's falsy data
		{`{"type":"unpersisted"}`, false},
		{persisted, true},
		{`{"type":"reference"}`, true},
		{`1`, false},
		{`"hello"`, false},
		{`[1,2,3]`, false},
	}
	for _, tc := range cases {
		s := mk("COMPLETED")
		if tc.data != "" {
			withData(tc.data)(&s)
		}
		require.Equal(t, tc.want, holdsPersistedResult(&s), tc.data)
	}
	// A proposed state's data counts as persisted even when empty, as in
	// Prefect's check on the proposed side.
	require.True(t, persistedResult(decodeData(ptr(json.RawMessage(`{}`)))))
}

func TestClampedPoissonInterval(t *testing.T) {
	// Bounds: at most average*(1+factor), at least the lower clamp.
	for _, u := range []float64{0, 0.1, 0.5, 0.9, 0.999999} {
		got := clampedPoissonInterval(10, 9, u)
		require.LessOrEqual(t, got, 100.0+1e-9)
		require.GreaterOrEqual(t, got, 0.0)
		got = clampedPoissonInterval(10, 0.3, u)
		require.LessOrEqual(t, got, 13.0+1e-9)
		require.Greater(t, got, 4.0) // log2(2^1.3/(2^1.3-1)) ≈ 0.66
	}
	// The draw is monotone in u and hits the upper bound at u=1.
	require.Less(t, clampedPoissonInterval(10, 0.3, 0.2), clampedPoissonInterval(10, 0.3, 0.8))
	require.InDelta(t, 13.0, clampedPoissonInterval(10, 0.3, 1), 1e-9)
	// The jitter draw is reproducible, in [0,1), and varies by attempt and run.
	id := uuid.MustParse("0190a000-0000-7000-8000-0000000000ff")
	require.Equal(t, jitterDraw(id, 1), jitterDraw(id, 1))
	require.NotEqual(t, jitterDraw(id, 1), jitterDraw(id, 2))
	require.NotEqual(t, jitterDraw(id, 1), jitterDraw(taskRunID, 1))
	for i := range 100 {
		u := jitterDraw(id, i)
		require.GreaterOrEqual(t, u, 0.0)
		require.Less(t, u, 1.0)
	}
}
