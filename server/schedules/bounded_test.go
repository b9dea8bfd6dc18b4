package schedules

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

// boundedDates runs s.dates under a generous deadline and fails clearly if
// the call does not come back (work that does not end), rather than hang
// the test binary.
func boundedDates(t *testing.T, s Schedule, ctx context.Context, start, end time.Time, n int) ([]time.Time, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	type result struct {
		dates []time.Time
		spent int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		d, spent, err := s.dates(ctx, start, end, n)
		done <- result{d, spent, err}
	}()
	select {
	case r := <-done:
		require.NotErrorIs(t, r.err, context.DeadlineExceeded, "Dates ran until the test's deadline: its work is not bounded")
		return r.dates, r.spent, r.err
	case <-time.After(3 * time.Minute):
		t.Fatal("Dates did not return even after its context ended: its work is not bounded and ignores its context")
	}
	return nil, 0, nil
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Schedules whose dates lie far from their anchor, or that never fire, or
// that Prefect itself would walk for hours, answer with bounded work: the
// grid is reached arithmetically, every loop spends from one budget.
func TestPathologicalSchedulesAreBounded(t *testing.T) {
	t.Parallel()
	june := at("2025-06-01T00:00:00Z")
	window := june.Add(100 * 24 * time.Hour)
	cases := []struct {
		name, schedule string
		start, end     time.Time
		n              int
		want           []string
		wantErr        error
	}{
		{"hourly interval anchored in 9999", `{"interval": 3600, "anchor_date": "9999-12-31T23:59:59Z"}`, june, window, 3,
			[]string{"2025-06-01T00:59:59Z", "2025-06-01T01:59:59Z", "2025-06-01T02:59:59Z"}, nil},
		{"microsecond interval anchored in year 1", `{"interval": 0.000001, "anchor_date": "0001-01-01T00:00:00Z"}`, at("2025-06-01T00:00:00.0000005Z"), window, 3,
			[]string{"2025-06-01T00:00:00.000001Z", "2025-06-01T00:00:00.000002Z", "2025-06-01T00:00:00.000003Z"}, nil},
		{"second interval anchored in year 1", `{"interval": 1, "anchor_date": "0001-01-01T00:00:00Z"}`, at("2025-06-01T00:00:00.5Z"), window, 2,
			[]string{"2025-06-01T00:00:01Z", "2025-06-01T00:00:02Z"}, nil},
		{"daily interval anchored in 9999 in New York keeps 09:00", `{"interval": 86400, "anchor_date": "9999-12-31T09:00:00", "timezone": "America/New_York"}`, june, window, 2,
			[]string{"2025-06-01T13:00:00Z", "2025-06-02T13:00:00Z"}, nil},
		{"daily interval anchored in year 1 in New York keeps 09:00", `{"interval": 86400, "anchor_date": "0001-01-01T09:00:00", "timezone": "America/New_York"}`, june, window, 2,
			[]string{"2025-06-01T13:00:00Z", "2025-06-02T13:00:00Z"}, nil},
		{"25-hour interval anchored in year 1", `{"interval": 90000, "anchor_date": "0001-01-01T00:00:00Z"}`, june, window, 1,
			nil, nil}, // checked below: on the grid, within one period of start
		{"interval dates stop at Python's last datetime", `{"interval": 3600, "anchor_date": "9999-12-31T23:59:59Z"}`, at("9999-12-31T20:00:00Z"), time.Time{}, 10,
			[]string{"9999-12-31T20:59:59Z", "9999-12-31T21:59:59Z", "9999-12-31T22:59:59Z", "9999-12-31T23:59:59Z"}, nil},
		{"cron that never fires", `{"cron": "0 0 31 2 *"}`, june, june.AddDate(1, 0, 0), 10, []string{}, nil},
		{"cron dates stop at year 9999", `{"cron": "0 0 1 1 *"}`, at("9997-06-01T00:00:00Z"), time.Time{}, 100,
			[]string{"9998-01-01T00:00:00Z", "9999-01-01T00:00:00Z"}, nil},
		{"rrule whose BYHOUR its steps never reach together", `{"rrule": "FREQ=MINUTELY;INTERVAL=120;BYHOUR=1"}`, june, window, 10, []string{}, nil},
		{"rrule whose BYMINUTE its steps never reach", `{"rrule": "FREQ=SECONDLY;INTERVAL=3600;BYMINUTE=5"}`, june, window, 10, []string{}, nil},
		{"rrule that never matches a day", `{"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"}`, june, window, 10, []string{}, nil},
		{"rrule whose BYSETPOS never matches, until 9999", `{"rrule": "FREQ=DAILY;UNTIL=99991231T235959;BYSETPOS=2"}`, june, window, 10, []string{}, nil},
		{"secondly rrule from year 1", `{"rrule": "DTSTART:00010101T000000\nRRULE:FREQ=SECONDLY"}`, at("2025-06-01T00:00:00.5Z"), window, 2,
			[]string{"2025-06-01T00:00:01Z", "2025-06-01T00:00:02Z"}, nil},
		{"secondly rrule with a huge COUNT from year 1: too much work", `{"rrule": "DTSTART:00010102T000000\nRRULE:FREQ=SECONDLY;COUNT=1000000000000"}`, june, window, 10,
			[]string{}, ErrTooMuchWork},
		{"yearly rrule from Go's zero time", `{"rrule": "DTSTART:00010101T000000\nRRULE:FREQ=YEARLY;COUNT=3"}`, at("0001-01-01T00:00:00Z"), time.Time{}, 10,
			[]string{"0001-01-01T00:00:00Z", "0002-01-01T00:00:00Z", "0003-01-01T00:00:00Z"}, nil},
		{"rrule until Go's zero time", `{"rrule": "DTSTART:00010101T000000\nRRULE:FREQ=DAILY;UNTIL=00010101T000000"}`, at("0001-01-01T00:00:00Z"), time.Time{}, 10,
			[]string{"0001-01-01T00:00:00Z"}, nil},
		{"rrule dates stop at year 9999", `{"rrule": "DTSTART:99991231T235958\nRRULE:FREQ=SECONDLY"}`, at("9999-12-31T23:59:00Z"), time.Time{}, 10,
			[]string{"9999-12-31T23:59:58Z", "9999-12-31T23:59:59Z"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse([]byte(c.schedule), june)
			require.NoError(t, err)
			got, spent, err := boundedDates(t, s, context.Background(), c.start, c.end, c.n)
			require.ErrorIs(t, err, c.wantErr)
			require.LessOrEqual(t, spent, maxWork+1)
			if c.wantErr == nil {
				// A secondly rrule walks a day of seconds to its window (see
				// maxOffsetSpread); everything else needs a few steps.
				require.Less(t, spent, 100_000, "an answer within reach needs little work")
			}
			if c.want == nil {
				require.Len(t, got, 1)
				require.False(t, got[0].Before(c.start))
				require.Less(t, got[0].Sub(c.start), 25*time.Hour)
				require.Zero(t, (got[0].Unix()-s.anchor.Unix())%90000)
				return
			}
			gotS := []string{}
			for _, d := range got {
				gotS = append(gotS, d.Format(time.RFC3339Nano))
			}
			require.Equal(t, c.want, gotS)
		})
	}
}

// dateutil refuses a sub-daily rule whose BYHOUR, BYMINUTE or BYSECOND its
// interval never reaches (rrule-go would search it forever), so Prefect
// answers 422.
func TestRRuleWithUnreachableByValueIsRejected(t *testing.T) {
	t.Parallel()
	for _, r := range []string{"FREQ=HOURLY;INTERVAL=2;BYHOUR=1", "FREQ=MINUTELY;INTERVAL=30;BYMINUTE=10",
		"DTSTART:20240101T000001\nRRULE:FREQ=SECONDLY;INTERVAL=2;BYSECOND=2,4", "FREQ=DAILY\nEXRULE:FREQ=HOURLY;INTERVAL=24;BYHOUR=3"} {
		_, err := Parse([]byte(`{"rrule": "`+strings.ReplaceAll(r, "\n", `\n`)+`"}`), time.Now())
		var verr *schema.ValidationError
		require.ErrorAs(t, err, &verr, r)
		require.Equal(t, "rrule", verr.Loc)
		require.Contains(t, verr.Msg, "Invalid rrule byxxx generates an empty set.", r)
	}
	_, err := Parse([]byte(`{"rrule": "DTSTART:00000101T000000\nRRULE:FREQ=DAILY"}`), time.Now())
	require.ErrorContains(t, err, "year 0 is out of range")
}

// countdown is a context that reports itself cancelled from its n-th
// Err() on: a deterministic cancellation in the middle of a computation.
type countdown struct {
	context.Context
	n int
}

func (c *countdown) Err() error {
	if c.n--; c.n <= 0 {
		return context.Canceled
	}
	return nil
}

// A computation stops soon after its context is done: at once when it is
// already done, within a few thousand steps when it ends on the way.
func TestDatesStopWhenTheContextIsDone(t *testing.T) {
	t.Parallel()
	june := at("2025-06-01T00:00:00Z")
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, sched := range []string{`{"interval": 1}`, `{"cron": "* * * * * *"}`, `{"rrule": "FREQ=SECONDLY"}`} {
		s, err := Parse([]byte(sched), june)
		require.NoError(t, err)
		got, spent, err := s.dates(done, june, june.AddDate(0, 0, 1), 0)
		require.ErrorIs(t, err, context.Canceled, sched)
		require.Empty(t, got)
		require.Zero(t, spent)
	}
	// The huge-COUNT rule would spend all of maxWork; cancelled on its third
	// check after the first (every 1024 steps) it stops after 3*1024 steps.
	s, err := Parse([]byte(`{"rrule": "DTSTART:00010102T000000\nRRULE:FREQ=SECONDLY;COUNT=1000000000000"}`), june)
	require.NoError(t, err)
	_, spent, err := s.dates(&countdown{Context: context.Background(), n: 4}, june, june.AddDate(0, 0, 1), 0)
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	require.Equal(t, 3*1024, spent)
}
