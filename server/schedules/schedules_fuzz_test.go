package schedules

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// The fuzz targets feed schedules through Parse (the schema's decoding and
// checks, then Compile) and Dates, and check what any answer must be: no
// panic, dates in strictly increasing order, within the window and Python's
// datetime range, no more than a call may return, and the work within
// maxWork (so a call always returns). Seeds, with the pathological inputs of
// the bounded-work tests, are in testdata/fuzz/<FuzzName>/.

// fuzzWindow maps fuzzed numbers to a start in years 1-9999, an end up to
// 200 days later (none when span is 0) and n up to 2000.
func fuzzWindow(startSec, span int64, n int) (time.Time, time.Time, int) {
	lo, hi := minDate.Unix(), maxDate.Unix()
	start := time.Unix(lo+mod64(startSec, hi-lo), 0).UTC()
	var end time.Time
	if span != 0 {
		end = start.Add(time.Duration(mod64(span, 200*24*3600)) * time.Second)
	}
	return start, end, int(mod64(int64(n), 2001))
}

func mod64(a, m int64) int64 {
	if m <= 0 {
		return 0
	}
	return (a%m + m) % m
}

func checkDates(t *testing.T, s Schedule, start, end time.Time, n int) {
	got, spent, err := s.dates(context.Background(), start, end, n)
	if err != nil && !errors.Is(err, ErrTooMuchWork) {
		t.Fatalf("unexpected error %v", err)
	}
	if spent > maxWork+1 {
		t.Fatalf("spent %d steps, more than maxWork", spent)
	}
	limit := n
	if limit <= 0 {
		limit = 1
		if !end.IsZero() {
			limit = maxIterations
		}
	}
	if len(got) > min(limit, maxIterations+2) {
		t.Fatalf("%d dates for n=%d", len(got), n)
	}
	for i, d := range got {
		if d.Before(start) || (!end.IsZero() && d.After(end)) || d.Before(minDate) || d.After(maxDate) {
			t.Fatalf("date %v outside [%v, %v]", d, start, end)
		}
		if d.Location() != time.UTC {
			t.Fatalf("date %v not in UTC", d)
		}
		if i > 0 && !got[i-1].Before(d) {
			t.Fatalf("dates out of order or repeated: %v then %v", got[i-1], d)
		}
	}
}

func parseFuzzed(t *testing.T, v map[string]any) (Schedule, bool) {
	raw, err := json.Marshal(v)
	if err != nil {
		return Schedule{}, false
	}
	s, err := Parse(raw, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	return s, err == nil
}

func FuzzCron(f *testing.F) {
	f.Add("0 0 31 2 *", true, "UTC", int64(1748736000), int64(365*24*3600), 10)
	f.Fuzz(func(t *testing.T, expr string, dayOr bool, tz string, startSec, span int64, n int) {
		s, ok := parseFuzzed(t, map[string]any{"cron": expr, "day_or": dayOr, "timezone": tz})
		if !ok {
			return
		}
		start, end, n := fuzzWindow(startSec, span, n)
		checkDates(t, s, start, end, n)
	})
}

func FuzzRRule(f *testing.F) {
	f.Add("FREQ=HOURLY;INTERVAL=2;BYHOUR=1", "UTC", int64(1748736000), int64(100*24*3600), 10)
	f.Fuzz(func(t *testing.T, rule, tz string, startSec, span int64, n int) {
		s, ok := parseFuzzed(t, map[string]any{"rrule": rule, "timezone": tz})
		if !ok {
			return
		}
		start, end, n := fuzzWindow(startSec, span, n)
		checkDates(t, s, start, end, n)
	})
}

func FuzzInterval(f *testing.F) {
	f.Add(3600.0, "9999-12-31T23:59:59Z", "UTC", int64(1748736000), int64(100*24*3600), 10)
	f.Fuzz(func(t *testing.T, seconds float64, anchor, tz string, startSec, span int64, n int) {
		s, ok := parseFuzzed(t, map[string]any{"interval": seconds, "anchor_date": anchor, "timezone": tz})
		if !ok {
			return
		}
		start, end, n := fuzzWindow(startSec, span, n)
		checkDates(t, s, start, end, n)
		// The grid: every date is anchor + k*interval in elapsed time when
		// the interval has no whole days (days follow the zone's calendar).
		if s.every < 24*time.Hour {
			got, _, _ := s.dates(context.Background(), start, end, n)
			for _, d := range got {
				if !addPeriods(s.anchor, periodIndex(s.anchor, d, s.every), s.every).Equal(d) {
					t.Fatalf("date %v is off the grid of %v every %v", d, s.anchor, s.every)
				}
			}
		}
	})
}

// FuzzScheduleJSON decodes any body as a schedule, as the API and the
// scheduler do.
func FuzzScheduleJSON(f *testing.F) {
	f.Add([]byte(`{"interval": 0.000001, "anchor_date": "0001-01-01T00:00:00Z"}`), int64(1748736000), int64(100*24*3600), 10)
	f.Fuzz(func(t *testing.T, raw []byte, startSec, span int64, n int) {
		s, err := Parse(raw, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			var verr *schema.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error %T %v, not a validation error", err, err)
			}
			return
		}
		start, end, n := fuzzWindow(startSec, span, n)
		checkDates(t, s, start, end, n)
	})
}
