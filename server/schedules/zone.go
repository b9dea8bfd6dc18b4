package schedules

import "time"

// Wall-clock times ("naive" datetimes in Python) are carried as time.Time
// values in UTC whose fields are the local date and time; localize turns one
// into an instant of a zone.

// wall returns t's local date and time in loc, carried in UTC.
func wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// localize returns the instant at which loc's clocks show the wall time w,
// as Python reads a datetime with fold=0 and whenever's "compatible"
// disambiguation does: a repeated wall time (clocks set back) is its first
// occurrence; a skipped one is read with the offset in force before the
// change, so it moves forward by the gap (02:30 on a night that jumps from
// 02:00 to 03:00 becomes 03:30).
func localize(w time.Time, loc *time.Location) time.Time {
	return resolve(w, loc, nil)
}

// resolve is localize, except that a repeated wall time is read with the
// offset prefer (in seconds east of UTC) when that is one of its readings.
func resolve(w time.Time, loc *time.Location, prefer *int) time.Time {
	if loc == time.UTC {
		return w
	}
	// Walk loc's zone periods from an instant before every reading of w
	// (offsets stay within a day) to one after them, collecting the
	// periods whose clocks show w.
	var valid []time.Time
	var validOff []int
	var skipped time.Time
	found := false
	t, stop := w.Add(-30*time.Hour), w.Add(30*time.Hour)
	prev := 0
	for range 16 {
		lt := t.In(loc)
		_, off := lt.Zone()
		start, end := lt.ZoneBounds()
		cand := w.Add(-time.Duration(off) * time.Second)
		afterStart := start.IsZero() || !cand.Before(start)
		beforeEnd := end.IsZero() || cand.Before(end)
		switch {
		case afterStart && beforeEnd:
			valid = append(valid, cand)
			validOff = append(validOff, off)
		case beforeEnd && !found && len(valid) == 0:
			// The previous period's clock ended before w and this one's
			// starts after it: w was skipped.
			found = true
			skipped = w.Add(-time.Duration(prev) * time.Second)
		}
		if end.IsZero() || end.After(stop) {
			break
		}
		prev = off
		t = end
	}
	if len(valid) == 0 {
		if found {
			return skipped
		}
		// Unreachable with real zone data; fall back on Go's own reading.
		return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	}
	if prefer != nil {
		for i, off := range validOff {
			if off == *prefer {
				return valid[i]
			}
		}
	}
	return valid[0]
}

// dateutilLocalize reads the wall time w in loc as dateutil's tzfile does
// (with fold=0), which is how Prefect's rrule occurrences become instants.
// dateutil places each transition at a wall time, the transition instant
// plus a "base" offset (see dateutilAdjustment), reads w with the offset of
// the last transition at or before that wall time, and with the previous
// offset while w is within the (possibly misplaced) repeated stretch after
// it. For ordinary zones this is: a repeated time is its first occurrence, a
// skipped one is read with the offset after the change (02:30 becomes
// 01:30).
func dateutilLocalize(w time.Time, loc *time.Location) time.Time {
	if loc == time.UTC {
		return w
	}
	t, stop := w.Add(-30*time.Hour), w.Add(30*time.Hour)
	_, off := t.In(loc).Zone()
	for range 16 {
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || end.After(stop) {
			break
		}
		_, prev := end.Add(-time.Second).In(loc).Zone()
		_, next := end.In(loc).Zone()
		transWall := end.Add(dateutilAdjustment(end, loc))
		if !transWall.After(w) {
			off = next
			if w.Before(transWall.Add(time.Duration(prev-next) * time.Second)) {
				off = prev
			}
		}
		t = end
	}
	return w.Add(-time.Duration(off) * time.Second)
}

// dateutilAdjustment is the offset dateutil's tzfile adds to the transition
// at tr to get the wall time from which it reads times with the new offset:
// the "base" (standard) offset of the new period, or of the old one when the
// base changes together with daylight-saving time.
func dateutilAdjustment(tr time.Time, loc *time.Location) time.Duration {
	after := tr.In(loc)
	_, o2 := after.Zone()
	d2 := after.IsDST()
	before := tr.Add(-time.Second).In(loc)
	_, o1 := before.Zone()
	d1 := before.IsDST()
	o0, d0 := o1, false
	if s, _ := before.ZoneBounds(); !s.IsZero() {
		p := s.Add(-time.Second).In(loc)
		_, o0 = p.Zone()
		d0 = p.IsDST()
	}
	dst1 := 0
	if d1 && !d0 {
		dst1 = o1 - o0
	}
	dst2 := 0
	if d2 {
		if !d1 {
			dst2 = o2 - o1
		}
		if dst2 == 0 {
			dst2 = dst1
		}
	}
	base1, base2 := o1-dst1, o2-dst2
	adj := base2
	if base2 != base1 && d2 != d1 {
		adj = base1
	}
	return time.Duration(adj) * time.Second
}

// addDays moves t by days calendar days in loc, keeping its wall time, as
// whenever's ZonedDateTime.add(days=...) does with the "compatible"
// disambiguation: a skipped wall time moves forward; a repeated one keeps
// t's offset if it can, else is its first occurrence.
func addDays(t time.Time, days int, loc *time.Location) time.Time {
	_, off := t.In(loc).Zone()
	return resolve(wall(t, loc).AddDate(0, 0, days), loc, &off).In(loc)
}

// prevTransition returns the last offset change of loc at or before t, and
// by how much the offset changed there (positive when clocks moved forward);
// ok is false when loc has none.
func prevTransition(t time.Time, loc *time.Location) (at time.Time, change time.Duration, ok bool) {
	start, _ := t.In(loc).ZoneBounds()
	for !start.IsZero() {
		_, after := start.In(loc).Zone()
		_, before := start.Add(-time.Second).In(loc).Zone()
		if after != before {
			return start, time.Duration(after-before) * time.Second, true
		}
		// A change of name only (such as a new abbreviation): look further back.
		start, _ = start.Add(-time.Second).In(loc).ZoneBounds()
	}
	return time.Time{}, 0, false
}

// nextTransition returns the first zone change of loc after t.
func nextTransition(t time.Time, loc *time.Location) (time.Time, bool) {
	_, end := t.In(loc).ZoneBounds()
	return end, !end.IsZero()
}
