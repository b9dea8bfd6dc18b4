package schedules

import "time"

// intervalDates is Prefect's IntervalSchedule._get_dates_generator (the
// whenever engine of Prefect 3.9): a grid of anchor + k*interval. The whole
// days of the interval are added in the schedule's zone, keeping the wall
// time (a day is 23 or 25 hours across a DST change, and a wall time that a
// change skips moves forward and stays moved); the rest is added as elapsed
// time. So an hourly schedule fires every elapsed hour, a daily one at the
// same local time.
//
// The grid index of start is computed exactly (periodIndex), so the work
// does not grow with the distance between anchor and start; each loop
// spends from b, and the dates found when b runs out are returned.
func intervalDates(b *budget, every time.Duration, anchor time.Time, loc *time.Location, utcZone bool, start, end time.Time, n int) []time.Time {
	days := int(every / (24 * time.Hour))
	rest := every % (24 * time.Hour)
	anchor = anchor.In(loc)

	// jump returns the k-th date of the grid directly: exact for whole days
	// (calendar days) and for sub-day intervals (elapsed time); an estimate
	// for mixed ones, which are then stepped.
	jump := func(k int64) time.Time {
		if days == 0 {
			return addPeriods(anchor, k, rest)
		}
		if rest == 0 {
			return addDays(anchor, days*int(k), loc)
		}
		return addPeriods(anchor, k, every)
	}
	advance := func(t time.Time) time.Time {
		if days != 0 {
			t = addDays(t, days, loc)
		}
		return t.Add(rest).In(loc)
	}

	beforeAnchorDays := start.Before(anchor) && days != 0 && rest == 0
	var offset int64
	var next time.Time
	if !start.Before(anchor) && days != 0 && rest == 0 && !utcZone {
		// Calendar days from the anchor: a skipped wall time on the way
		// changes every later date, so walk there instead of jumping.
		next = seekCalendarDays(b, anchor, start, days, loc)
	} else {
		offset = periodIndex(anchor, start, every)
		next = jump(offset)
		// The estimate may overshoot when a DST change lies between the
		// anchor and the start.
		for next.After(start) && b.step() {
			offset--
			next = jump(offset)
		}
	}
	nextDate := func(t time.Time) time.Time {
		if beforeAnchorDays && offset < 0 {
			// Dates before the anchor stay relative to it.
			offset++
			return jump(offset)
		}
		return advance(t)
	}
	for next.Before(start) && b.step() {
		next = nextDate(next)
	}
	if b.err != nil {
		return nil
	}

	var out []time.Time
	seen := map[time.Time]bool{}
	for counter := 0; b.step(); counter++ {
		if next.After(end) {
			break
		}
		key := next.UTC()
		if !seen[key] {
			seen[key] = true
			out = append(out, key)
		}
		if len(out) >= n || counter >= maxIterations+1 {
			break
		}
		next = nextDate(next)
	}
	return out
}

// seekCalendarDays is Prefect's _seek_calendar_interval: the first date of
// the series anchor, anchor+days, anchor+2*days, ... (each step a calendar
// addition from the previous date) at or after start, jumping within
// stretches without zone transitions and stepping across each transition
// (so its work grows with the transitions crossed, a few a year at most).
func seekCalendarDays(b *budget, anchor, start time.Time, days int, loc *time.Location) time.Time {
	cur := anchor
	for cur.Before(start) && b.step() {
		boundary := start
		if tr, ok := nextTransition(cur, loc); ok && tr.Before(start) {
			boundary = tr
		}
		count := max(1, localDaysBetween(cur, boundary, loc)/days-1)
		cur = addDays(cur, days*count, loc)
	}
	return cur
}

// localDaysBetween is the number of calendar days from a's date to b's date
// in loc.
func localDaysBetween(a, b time.Time, loc *time.Location) int {
	ay, am, ad := a.In(loc).Date()
	by, bm, bd := b.In(loc).Date()
	da := time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC)
	db := time.Date(by, bm, bd, 0, 0, 0, 0, time.UTC)
	// Not db.Sub(da): a Duration saturates after 292 years.
	return int((db.Unix() - da.Unix()) / (24 * 60 * 60))
}
