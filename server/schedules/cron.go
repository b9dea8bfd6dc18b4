package schedules

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file is a cron matcher with the semantics of croniter, the library
// Prefect uses (vendored as prefect._vendor.croniter): its grammar (five
// fields, or six with seconds last, or seven with a year; names; ranges that
// wrap; steps; L for the last day of the month; n#k and Lk for the k-th and
// last weekday of the month; ? for * in the day fields; the @ macros) and its
// day_or rule. Times here are wall-clock times carried in UTC.

const (
	fMinute = iota
	fHour
	fDom
	fMonth
	fDow
	fSecond
	fYear
)

var (
	cronRanges  = [7][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 6}, {0, 59}, {1970, 2099}}
	lenMeansAll = [7]int{60, 24, 31, 12, 7, 60, 130}
	monthNames  = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	dowNames = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

	cronMacros = map[string]string{
		"@midnight": "0 0 * * *", "@hourly": "0 * * * *", "@daily": "0 0 * * *",
		"@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
	}

	stepRe       = regexp.MustCompile(`^([^-]+)-([^-/]+)(/(\d+))?$`)
	onlyIntRe    = regexp.MustCompile(`^\d+$`)
	starOrIntRe  = regexp.MustCompile(`^(\d+|\*)$`)
	starStepRe   = regexp.MustCompile(`^\*(/.+)$`)
	startStepRe  = regexp.MustCompile(`^(.+)/(.+)$`)
	hashRe       = regexp.MustCompile(`^(h|r)(\((\d+)-(\d+)\))?(/(\d+))?$`)
	weekdayAlt   = "sun|mon|tue|wed|thu|fri|sat"
	monthAlt     = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
	specialDowRe = regexp.MustCompile(`^(?P<pre>((?P<he>((` + weekdayAlt + `)(-(` + weekdayAlt + `))?)|((` + monthAlt + `)(-(` + monthAlt + `))?)|\w+)#)|l)(?P<last>\d+)$`)
)

// lastNth stands for "last" in a weekday-of-month rule (Lk).
const lastNth = -1

// cronExpr is a parsed cron expression: one value set per field, as
// croniter expands it.
type cronExpr struct {
	fields int // 5, 6 or 7
	// sets[f][v] says whether value v is allowed in field f; star[f] marks a
	// field croniter expanded to "*" (no constraint).
	sets [7][]bool
	star [7]bool
	// domLast: L in the day-of-month field.
	domLast bool
	// nth maps a weekday to its n#k occurrences (k in 1..5, or lastNth);
	// when set, it replaces the plain day-of-week set, as in croniter.
	nth   map[int][]int
	dayOr bool
}

var errBadCron = errors.New("invalid cron string")

// parseCron parses expr as croniter does, rejecting (as Prefect does) the
// random and hashed forms.
func parseCron(expr string, dayOr bool) (*cronExpr, error) {
	efl := strings.ToLower(expr)
	if m, ok := cronMacros[efl]; ok {
		efl = m
	}
	exprs := strings.Fields(efl)
	if len(exprs) != 5 && len(exprs) != 6 && len(exprs) != 7 {
		return nil, errBadCron
	}
	c := &cronExpr{fields: len(exprs), dayOr: dayOr}
	for f := range 7 {
		c.sets[f] = make([]bool, cronRanges[f][1]+1)
	}
	for f, e := range exprs {
		if err := c.expandField(f, e, exprs); err != nil {
			return nil, err
		}
	}
	for f := len(exprs); f < 7; f++ {
		c.star[f] = true
	}
	if len(c.nth) > 0 {
		// croniter refuses to mix plain weekdays with n#k, unless the plain
		// ones cover the whole week.
		plain, all := 0, 0
		for v, ok := range c.sets[fDow] {
			if ok {
				all++
				if _, isNth := c.nth[v]; !isNth {
					plain++
				}
			}
		}
		if !c.star[fDow] && plain > 0 && all != lenMeansAll[fDow] {
			return nil, errBadCron
		}
	}
	return c, nil
}

// valueAlias is croniter's value_alias: 7 means Sunday, and 0 the first day
// or month, except where croniter leaves them alone (and so rejects them).
func valueAlias(v, field, n int) int {
	switch {
	case field == fDom && v == 0 && n == 6:
		return 1
	case field == fMonth && v == 0:
		return 0 // croniter only maps it for shapes it does not accept
	case field == fDow && v == 7 && n == 5:
		return 0
	}
	return v
}

func alphaconv(field int, s string) (string, error) {
	switch field {
	case fDom:
		if s == "l" {
			return "l", nil
		}
	case fMonth:
		if v, ok := monthNames[s]; ok {
			return strconv.Itoa(v), nil
		}
	case fDow:
		if v, ok := dowNames[s]; ok {
			return strconv.Itoa(v), nil
		}
	}
	return "", errBadCron
}

// expandField is croniter's _expand for one field.
func (c *cronExpr) expandField(f int, expr string, exprs []string) error {
	lo, hi := cronRanges[f][0], cronRanges[f][1]
	n := len(exprs)
	if hashRe.MatchString(expr) {
		return errBadCron // croniter's hashed (H) and random (R) forms
	}
	if strings.Contains(expr, "?") {
		if expr != "?" || (f != fDom && f != fDow) {
			return errBadCron
		}
		expr = "*"
	}
	type token struct {
		star, last bool
		v          int
	}
	var res []token
	work := strings.Split(expr, ",")
	for len(work) > 0 {
		e := work[len(work)-1]
		work = work[:len(work)-1]
		nth := 0
		if f == fDow {
			if m := specialDowRe.FindStringSubmatch(e); m != nil {
				he, last := m[specialDowRe.SubexpIndex("he")], m[specialDowRe.SubexpIndex("last")]
				switch {
				case he != "":
					e = he
					k, err := strconv.Atoi(last)
					if err != nil || k < 1 || k > 5 {
						return errBadCron
					}
					nth = k
				case last != "":
					e = last
					nth = lastNth
				}
			}
		}
		t := starStepRe.ReplaceAllString(e, fmt.Sprintf("%d-%d$1", lo, hi))
		m := stepRe.FindStringSubmatch(t)
		if m == nil {
			t = startStepRe.ReplaceAllString(e, fmt.Sprintf("${1}-%d/${2}", hi))
			m = stepRe.FindStringSubmatch(t)
		}
		if m != nil {
			low, high, step := m[1], m[2], 1
			if m[4] != "" {
				s, err := strconv.Atoi(m[4])
				if err != nil {
					return errBadCron
				}
				step = s
			}
			if f == fDom && high == "l" {
				high = "31"
			}
			var err error
			if !onlyIntRe.MatchString(low) {
				if low, err = alphaconv(f, low); err != nil {
					return err
				}
			}
			if !onlyIntRe.MatchString(high) {
				if high, err = alphaconv(f, high); err != nil {
					return err
				}
			}
			if !onlyIntRe.MatchString(low) || !onlyIntRe.MatchString(high) || step <= 0 {
				return errBadCron
			}
			l, _ := strconv.Atoi(low)
			h, _ := strconv.Atoi(high)
			l, h = valueAlias(l, f, n), valueAlias(h, f, n)
			if max(l, h) > hi {
				return errBadCron
			}
			var rng []int
			switch {
			case l > h:
				// A range that wraps, such as fri-mon or 22-2.
				for v := l; v <= hi; v += step {
					rng = append(rng, v)
				}
				skip := 0
				if len(rng) > 0 {
					lastV := rng[len(rng)-1]
					alreadySkipped := hi - lastV
					curpos := lastV - lo
					if curpos+step > hi-lo+1 && alreadySkipped < step {
						skip = step - alreadySkipped
					}
				}
				for v := lo + skip; v <= h; v += step {
					rng = append(rng, v)
				}
			case l == h:
				// croniter reads x-x as the whole cycle.
				for v := lo; v <= hi; v += step {
					rng = append(rng, v)
				}
			default:
				for v := l; v <= h; v += step {
					rng = append(rng, v)
				}
			}
			for _, v := range rng {
				if f == fDow && nth > 0 {
					work = append(work, fmt.Sprintf("%d#%d", v, nth))
				} else {
					work = append(work, strconv.Itoa(v))
				}
			}
			continue
		}
		if strings.HasPrefix(t, "-") {
			return errBadCron
		}
		if !starOrIntRe.MatchString(t) {
			var err error
			if t, err = alphaconv(f, t); err != nil {
				return err
			}
		}
		var tok token
		switch t {
		case "*":
			tok.star = true
		case "l":
			tok.last = true
		default:
			v, err := strconv.Atoi(t)
			if err != nil {
				return errBadCron
			}
			v = valueAlias(v, f, n)
			if v < lo || v > hi {
				return errBadCron
			}
			tok.v = v
		}
		res = append(res, tok)
		if f == fDow && nth != 0 && !tok.star {
			if c.nth == nil {
				c.nth = map[int][]int{}
			}
			if !slices.Contains(c.nth[tok.v], nth) {
				c.nth[tok.v] = append(c.nth[tok.v], nth)
			}
		}
	}
	distinct := map[token]bool{}
	for _, tok := range res {
		distinct[tok] = true
	}
	star := distinct[token{star: true}]
	if len(distinct) == lenMeansAll[f] {
		// croniter turns a full list into "*", except in a day field when
		// the other day field holds no "*" (so day_or still unions them).
		keep := (f == fDom && !strings.Contains(exprs[fDow], "*")) ||
			(f == fDow && !strings.Contains(exprs[fDom], "*"))
		if !keep {
			star = true
		}
	}
	c.star[f] = star
	for tok := range distinct {
		switch {
		case tok.last:
			c.domLast = true
		case !tok.star:
			c.sets[f][tok.v] = true
		}
	}
	return nil
}

func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// maxYearsBetweenMatches is croniter's bound on a search.
const maxYearsBetweenMatches = 50

// nearestDiff is croniter's _get_next_nearest_diff: how far x must move
// forward to reach a value of the sorted list (wrapping around rangeVal),
// with L standing for rangeVal.
func nearestDiff(x int, values []int, last bool, rangeVal int) int {
	for _, v := range values {
		if v >= x {
			return v - x
		}
	}
	if last && rangeVal >= x {
		return rangeVal - x
	}
	return values[0] - x + rangeVal
}

func (c *cronExpr) values(f int) []int {
	var out []int
	for v, ok := range c.sets[f] {
		if ok {
			out = append(out, v)
		}
	}
	return out
}

// search is croniter's _calc going forward: from one step after `after`
// (a minute, or a second with a seconds field), fix the fields from the
// year down, starting over whenever one moves. useDom and useDow say which
// day fields take part (the day_or union runs one search with each). It
// keeps croniter's quirks: a day-of-month list is walked with the length of
// the month the search started in, so a value past the end of a short month
// spills into the next one. Each turn of its loop spends from b.
func (c *cronExpr) search(b *budget, after time.Time, useDom, useDow bool) (time.Time, bool) {
	step := time.Minute
	if c.fields > 5 {
		step = time.Second
	}
	d := after.Truncate(time.Second).Add(step)
	month, year := d.Month(), d.Year()
	currentYear := year
	domStar := c.star[fDom] || !useDom
	dowStar := c.star[fDow] || !useDow
	startOfDay := func(t time.Time, days int) time.Time {
		y, m, dd := t.Date()
		return time.Date(y, m, dd+days, 0, 0, 0, 0, time.UTC)
	}
	for abs(year-currentYear) <= maxYearsBetweenMatches && b.step() {
		changed := false
		if !c.star[fYear] {
			// A year list does not wrap: past its last year, nothing matches.
			diff := -1
			for _, v := range c.values(fYear) {
				if v >= d.Year() {
					diff = v - d.Year()
					break
				}
			}
			if diff < 0 {
				return time.Time{}, false
			}
			if diff != 0 {
				d = time.Date(d.Year()+diff, 1, 1, 0, 0, 0, 0, time.UTC)
				changed = true
			}
		}
		if !changed && !c.star[fMonth] {
			if diff := nearestDiff(int(d.Month()), c.values(fMonth), false, 12); diff != 0 {
				d = time.Date(d.Year(), d.Month()+time.Month(diff), 1, 0, 0, 0, 0, time.UTC)
				changed = true
			}
		}
		if !changed && !domStar {
			days := daysIn(year, month)
			if !(c.domLast && days == d.Day()) {
				if diff := nearestDiff(d.Day(), c.values(fDom), c.domLast, days); diff != 0 {
					d = startOfDay(d, diff)
					changed = true
				}
			}
		}
		if !changed && len(c.nth) > 0 {
			y, m, day := d.Date()
			last := daysIn(y, m)
			best := 0
			for wd, ks := range c.nth {
				first := (wd-int(time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).Weekday())+7)%7 + 1
				for _, k := range ks {
					cand := first + 7*(k-1)
					if k == lastNth {
						cand = first + 7*((last-first)/7)
					} else if cand > last {
						continue
					}
					if day <= cand && (best == 0 || cand < best) {
						best = cand
					}
				}
			}
			switch {
			case best == 0:
				d = startOfDay(d, daysIn(year, month)-day+1)
				changed = true
			case best != day:
				d = startOfDay(d, best-day)
				changed = true
			}
		} else if !changed && !dowStar {
			if diff := nearestDiff(int(d.Weekday()), c.values(fDow), false, 7); diff != 0 {
				d = startOfDay(d, diff)
				changed = true
			}
		}
		if !changed && !c.star[fHour] {
			if diff := nearestDiff(d.Hour(), c.values(fHour), false, 24); diff != 0 {
				d = d.Truncate(time.Hour).Add(time.Duration(diff) * time.Hour)
				changed = true
			}
		}
		if !changed && !c.star[fMinute] {
			if diff := nearestDiff(d.Minute(), c.values(fMinute), false, 60); diff != 0 {
				d = d.Truncate(time.Minute).Add(time.Duration(diff) * time.Minute)
				changed = true
			}
		}
		if !changed {
			if c.fields > 5 {
				if !c.star[fSecond] {
					if diff := nearestDiff(d.Second(), c.values(fSecond), false, 60); diff != 0 {
						d = d.Add(time.Duration(diff) * time.Second)
						changed = true
					}
				}
			} else {
				d = d.Truncate(time.Minute)
			}
		}
		if !changed {
			return d, true
		}
		month, year = d.Month(), d.Year()
	}
	return time.Time{}, false
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// next is croniter's get_next: the first match after `after`, where a cron
// restricting both day fields matches either of them when day_or is set.
// ok is false when croniter would raise (no match within its bound).
func (c *cronExpr) next(b *budget, after time.Time) (time.Time, bool) {
	if c.dayOr && !c.star[fDom] && !c.star[fDow] {
		t1, ok1 := c.search(b, after, true, false)
		t2, ok2 := c.search(b, after, false, true)
		if !ok1 || !ok2 {
			return time.Time{}, false
		}
		if t1.Before(t2) {
			return t1, true
		}
		return t2, true
	}
	return c.search(b, after, true, true)
}

// wallTimes iterates the matches after `after`, croniter's get_next
// repeated; it stops where croniter would raise.
func (c *cronExpr) wallTimes(b *budget, after time.Time) func() (time.Time, bool) {
	cur := after
	done := false
	return func() (time.Time, bool) {
		if done {
			return time.Time{}, false
		}
		t, ok := c.next(b, cur)
		if !ok {
			done = true
			return time.Time{}, false
		}
		cur = t
		return t, true
	}
}

// cronDates is Prefect's CronSchedule._get_dates_whenever: croniter walks
// wall-clock times in the schedule's zone, and each is read in the zone with
// whenever's "compatible" rule (a time that clocks skip moves forward by the
// gap; a repeated time is its first occurrence, so the second pass through a
// repeated hour fires nothing). Dates are kept from start on, at most n, up
// to end, and at most maxIterations+2 candidates are looked at.
func cronDates(b *budget, c *cronExpr, loc *time.Location, start, end time.Time, n int) []time.Time {
	startWall := wall(start, loc)
	// croniter returns matches strictly after its start, at whole seconds:
	// start one second early so that start itself can match, unless start
	// has a fraction of a second (then it cannot).
	after := startWall.Truncate(time.Second)
	if startWall.Equal(after) {
		after = after.Add(-time.Second)
	}
	inZone := func(next func() (time.Time, bool)) func() (time.Time, bool) {
		return func() (time.Time, bool) {
			w, ok := next()
			if !ok {
				return time.Time{}, false
			}
			return localize(w, loc), true
		}
	}
	tr, change, hasTr := prevTransition(start.Add(time.Second), loc)
	since := start.Sub(tr)
	if hasTr && change < 0 && since >= 0 && since < -change {
		// start is in the second pass through a repeated hour: its wall
		// times read as the first pass, before start, so skip them.
		after = wall(tr, loc).Add(-change).Add(-time.Second)
	}
	candidates := inZone(c.wallTimes(b, after))
	if hasTr && change > 0 && since >= 0 && since < change {
		// start is just after clocks jumped forward: skipped wall times
		// before start's wall time still land after start once moved
		// forward, so walk them too.
		gapEnd := wall(tr, loc)
		skipped := c.wallTimes(b, after.Add(-change))
		lookback := inZone(func() (time.Time, bool) {
			w, ok := skipped()
			if !ok || !w.Before(gapEnd) {
				return time.Time{}, false
			}
			return w, true
		})
		candidates = mergeByInstant(lookback, candidates)
	}

	var out []time.Time
	seen := map[time.Time]bool{}
	for range maxIterations + 2 {
		t, ok := candidates()
		if !ok {
			break
		}
		if t.After(end) {
			break
		}
		if key := t.UTC(); !t.Before(start) && !seen[key] {
			seen[key] = true
			out = append(out, key)
		}
		if len(out) >= n {
			break
		}
	}
	return out
}

// mergeByInstant merges two ordered streams of instants (heapq.merge),
// taking from a first on ties.
func mergeByInstant(a, b func() (time.Time, bool)) func() (time.Time, bool) {
	var ha, hb time.Time
	oka, okb := false, false
	fa, fb := false, false
	return func() (time.Time, bool) {
		if !fa {
			ha, oka = a()
			fa = true
		}
		if !fb {
			hb, okb = b()
			fb = true
		}
		switch {
		case oka && (!okb || !hb.Before(ha)):
			fa = false
			return ha, true
		case okb:
			fb = false
			return hb, true
		}
		return time.Time{}, false
	}
}
