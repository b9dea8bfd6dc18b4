package schedules

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	rrule "github.com/teambition/rrule-go"
)

// defaultRRuleStart is the DTSTART of a rule that names none: Prefect parses
// rrules with dateutil's rrulestr(dtstart=2020-01-01).
var defaultRRuleStart = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// maxRRuleLength is Prefect's bound on rrule strings.
const maxRRuleLength = 6500

// ruleSet is an rrule string as dateutil's rrulestr reads it: RRULE and
// EXRULE lines, RDATE and EXDATE dates. Every time is a wall-clock time:
// Prefect relabels DTSTART, UNTIL, RDATE and EXDATE with the schedule's zone
// whatever zone the string gave them (RRuleSchedule.to_rrule), so only their
// digits count.
type ruleSet struct {
	rrules  []rrule.ROption
	exrules []rrule.ROption
	rdates  []time.Time
	exdates []time.Time
}

// parseRRule parses s as dateutil's rrulestr does (case-insensitively; one
// rule, or lines of DTSTART, RRULE, EXRULE, RDATE and EXDATE).
func parseRRule(s string) (*ruleSet, error) {
	if len(s) > maxRRuleLength {
		return nil, fmt.Errorf("max length is %d, got %d", maxRRuleLength, len(s))
	}
	u := strings.ToUpper(s)
	if strings.TrimSpace(u) == "" {
		return nil, errors.New("empty string")
	}
	lines := strings.Fields(u)
	dtstart := defaultRRuleStart
	set := &ruleSet{}
	if len(lines) == 1 && (!strings.Contains(u, ":") || strings.HasPrefix(u, "RRULE:")) {
		opt, err := parseRRuleValue(strings.TrimPrefix(lines[0], "RRULE:"))
		if err != nil {
			return nil, err
		}
		set.rrules = append(set.rrules, opt)
	} else {
		var rrules, exrules []string
		for _, line := range lines {
			name, value := "RRULE", line
			if i := strings.IndexByte(line, ':'); i >= 0 {
				name, value = line[:i], line[i+1:]
			}
			parms := strings.Split(name, ";")
			name, parms = parms[0], parms[1:]
			switch name {
			case "RRULE", "EXRULE":
				if len(parms) > 0 {
					return nil, fmt.Errorf("unsupported %s parm: %s", name, parms[0])
				}
				if name == "RRULE" {
					rrules = append(rrules, value)
				} else {
					exrules = append(exrules, value)
				}
			case "RDATE", "EXDATE", "DTSTART":
				dates, err := parseDateValue(value, parms)
				if err != nil {
					return nil, err
				}
				switch name {
				case "RDATE":
					set.rdates = append(set.rdates, dates...)
				case "EXDATE":
					set.exdates = append(set.exdates, dates...)
				default:
					if len(dates) != 1 {
						return nil, errors.New("Multiple DTSTART values specified:" + value)
					}
					dtstart = dates[0]
				}
			default:
				return nil, errors.New("unsupported property: " + name)
			}
		}
		if len(rrules) == 0 && len(set.rdates) == 0 {
			return nil, errors.New("no RRULE or RDATE")
		}
		for _, r := range rrules {
			opt, err := parseRRuleValue(r)
			if err != nil {
				return nil, err
			}
			set.rrules = append(set.rrules, opt)
		}
		for _, r := range exrules {
			opt, err := parseRRuleValue(r)
			if err != nil {
				return nil, err
			}
			set.exrules = append(set.exrules, opt)
		}
	}
	// Build each rule once now, so a rule rrule-go rejects fails here, and
	// drop the rules that can never fire (they add or remove nothing).
	for _, opts := range []*[]rrule.ROption{&set.rrules, &set.exrules} {
		kept := (*opts)[:0]
		for _, o := range *opts {
			o.Dtstart = dtstart
			if _, err := rrule.NewRRule(o); err != nil {
				return nil, err
			}
			fires, err := timeOfDayReachable(o)
			if err != nil {
				return nil, err
			}
			if fires {
				kept = append(kept, o)
			}
		}
		*opts = kept
	}
	return set, nil
}

// timeOfDayReachable checks what dateutil checks of a sub-daily rule. Its
// steps from DTSTART reach only some times of day (every other hour for
// FREQ=HOURLY;INTERVAL=2): an error when its BYHOUR (HOURLY), BYMINUTE
// (MINUTELY) or BYSECOND (SECONDLY) holds none of them (dateutil refuses
// the rule, so Prefect answers 422); false when no reachable time satisfies
// all of BYHOUR, BYMINUTE and BYSECOND together (dateutil raises when
// iterating it, so it never fires). rrule-go would search such a rule
// forever in one call, so it must never be iterated.
func timeOfDayReachable(o rrule.ROption) (bool, error) {
	var unit, base, at int
	var by []int
	byHour, byMinute, bySecond := o.Byhour, o.Byminute, o.Bysecond
	switch o.Freq {
	case rrule.HOURLY:
		unit, base, at, by = 3600, 24, o.Dtstart.Hour(), o.Byhour
		byMinute, bySecond = nil, nil // the rule's minutes and seconds come within each hour
	case rrule.MINUTELY:
		unit, base, at, by = 60, 60, o.Dtstart.Minute(), o.Byminute
		bySecond = nil
	case rrule.SECONDLY:
		unit, base, at, by = 1, 60, o.Dtstart.Second(), o.Bysecond
	default:
		return true, nil
	}
	interval := max(o.Interval, 1)
	if len(by) > 0 {
		g := gcd(interval, base)
		if !slices.ContainsFunc(by, func(v int) bool { return ((v-at)%g+g)%g == 0 }) {
			return false, errors.New("Invalid rrule byxxx generates an empty set.") //nolint:staticcheck // dateutil's message, as clients see it
		}
	}
	const day = 24 * 60 * 60
	step := unit * gcd(interval, day/unit) // the spacing of the reachable times of day
	h, m, sec := o.Dtstart.Clock()
	in := func(set []int, v int) bool { return len(set) == 0 || slices.Contains(set, v) }
	for t := (h*3600 + m*60 + sec) % step; t < day; t += step {
		if in(byHour, t/3600) && in(byMinute, t/60%60) && in(bySecond, t%60) {
			return true, nil
		}
	}
	return false, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// parseRRuleValue parses the FREQ=...;... part of an RRULE or EXRULE line.
func parseRRuleValue(v string) (rrule.ROption, error) {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		if v[:i] != "RRULE" {
			return rrule.ROption{}, errors.New("unknown parameter name")
		}
		v = v[i+1:]
	}
	// dateutil takes BYWEEKDAY as another name of BYDAY.
	parts := strings.Split(v, ";")
	for i, p := range parts {
		if strings.HasPrefix(p, "BYWEEKDAY=") {
			parts[i] = "BYDAY=" + strings.TrimPrefix(p, "BYWEEKDAY=")
		}
		if strings.HasPrefix(p, "DTSTART=") {
			return rrule.ROption{}, errors.New("unknown parameter 'DTSTART'")
		}
	}
	opt, err := rrule.StrToROptionInLocation(strings.Join(parts, ";"), time.UTC)
	if err != nil {
		return rrule.ROption{}, err
	}
	if !opt.Until.IsZero() {
		opt.Until = wall(opt.Until, opt.Until.Location())
	} else if strings.Contains(v, "UNTIL=") {
		// UNTIL=00010101T000000 is Go's zero time, which rrule-go reads
		// as "no UNTIL"; a nanosecond later bounds the same whole seconds.
		opt.Until = time.Time{}.Add(time.Nanosecond)
	}
	return *opt, nil
}

// parseDateValue reads the dates of a DTSTART, RDATE or EXDATE line as wall
// times (a TZID parameter or a Z suffix is dropped, see ruleSet).
func parseDateValue(value string, parms []string) ([]time.Time, error) {
	for _, p := range parms {
		if !strings.HasPrefix(p, "TZID=") && p != "VALUE=DATE-TIME" && p != "VALUE=DATE" {
			return nil, errors.New("unsupported parm: " + p)
		}
	}
	var out []time.Time
	for _, d := range strings.Split(value, ",") {
		t, err := parseWallDate(d)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func parseWallDate(s string) (time.Time, error) {
	for _, layout := range []string{"20060102T150405Z07:00", "20060102T150405", "20060102T1504", "20060102",
		"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1 {
				return time.Time{}, fmt.Errorf("year %d is out of range", t.Year())
			}
			return wall(t, t.Location()), nil
		}
	}
	if strings.HasSuffix(s, "Z") {
		return parseWallDate(strings.TrimSuffix(s, "Z"))
	}
	return time.Time{}, fmt.Errorf("unknown string format: %s", s)
}

// walls iterates the set's wall times in order, as dateutil's rruleset does:
// rules and dates merged, excluded times dropped, repeats dropped. Every
// turn spends from b. Rules without COUNT that repeat every few weeks or
// less start at the last whole period maxOffsetSpread before notBefore (the same
// occurrences from there on, as Prefect's normalize_rrule_string argues),
// and every rule is run shifted by whole 400-year cycles towards year 9999
// (see calendarShift), so that rrule-go's search, which only ends at year
// 9999, ends soon after until.
func (s *ruleSet) walls(b *budget, notBefore, until time.Time) func() (time.Time, bool) {
	iter := func(opts []rrule.ROption, dates []time.Time) []*peek {
		var gens []*peek
		for _, o := range opts {
			o = advanceStart(o, notBefore.Add(-maxOffsetSpread))
			years := calendarShift(o, until)
			o.Dtstart = o.Dtstart.AddDate(years, 0, 0)
			if !o.Until.IsZero() {
				o.Until = o.Until.AddDate(years, 0, 0)
			}
			r, err := rrule.NewRRule(o)
			if err != nil {
				continue
			}
			next := r.Iterator()
			gens = append(gens, &peek{next: func() (time.Time, bool) {
				t, ok := next()
				return t.AddDate(-years, 0, 0), ok
			}})
		}
		if len(dates) > 0 {
			sorted := append([]time.Time(nil), dates...)
			sortTimes(sorted)
			i := 0
			gens = append(gens, &peek{next: func() (time.Time, bool) {
				if i >= len(sorted) {
					return time.Time{}, false
				}
				i++
				return sorted[i-1], true
			}})
		}
		for _, g := range gens {
			g.advance()
		}
		return gens
	}
	include := iter(s.rrules, s.rdates)
	exclude := iter(s.exrules, s.exdates)
	var last time.Time
	started := false
	return func() (time.Time, bool) {
		for b.step() {
			g := earliest(include)
			if g == nil {
				return time.Time{}, false
			}
			t := g.head
			g.advance()
			if started && t.Equal(last) {
				continue
			}
			started, last = true, t
			for {
				x := earliest(exclude)
				if x == nil || !x.head.Before(t) {
					break
				}
				if !b.step() {
					return time.Time{}, false
				}
				x.advance()
			}
			if x := earliest(exclude); x != nil && x.head.Equal(t) {
				continue
			}
			return t, true
		}
		return time.Time{}, false
	}
}

// maxOffsetSpread bounds how far apart the wall times of one instant can be
// in two readings of a zone: UTC offsets run from -12 to +14 hours.
const maxOffsetSpread = 26 * time.Hour

// calendarShift returns how many years (whole 400-year Gregorian cycles,
// which repeat every date, weekday, leap day and week number) a rule is
// moved while rrule-go runs it. A rule that never matches (FREQ=DAILY;
// BYMONTH=2;BYMONTHDAY=30) makes rrule-go walk to year 9999 in one call;
// moved so that until falls within the last cycle before 9999, it walks at
// most 400 years past until. Easter does not repeat with the cycles, so an
// Easter rule is not moved. Go's zero time (a DTSTART of 0001-01-01
// 00:00:00) means "now" to rrule-go, so such a rule is always moved.
func calendarShift(o rrule.ROption, until time.Time) int {
	easter := len(o.Byeaster) > 0
	years := 0
	if !easter {
		years = (rrule.MAXYEAR - until.Year()) / 400 * 400
	}
	if o.Dtstart.AddDate(years, 0, 0).IsZero() {
		if easter {
			return 400 // rrule-go's Easter breaks on years before 1
		}
		return years - 400
	}
	return years
}

// advanceStart moves a rule without COUNT that repeats every few weeks or
// less forward by whole periods to just before target. A weekly rule with
// BYSETPOS stays: its first period is the partial week from DTSTART, whose
// positions differ from a whole week's.
func advanceStart(o rrule.ROption, target time.Time) rrule.ROption {
	if o.Count != 0 || !o.Dtstart.Before(target) {
		return o
	}
	var unit time.Duration
	switch o.Freq {
	case rrule.WEEKLY:
		if len(o.Bysetpos) > 0 {
			return o
		}
		unit = 7 * 24 * time.Hour
	case rrule.DAILY:
		unit = 24 * time.Hour
	case rrule.HOURLY:
		unit = time.Hour
	case rrule.MINUTELY:
		unit = time.Minute
	case rrule.SECONDLY:
		unit = time.Second
	default:
		return o
	}
	interval := max(o.Interval, 1)
	if int64(interval) > int64(math.MaxInt64/unit) {
		return o // one period is centuries: a few steps reach target anyway
	}
	period := time.Duration(interval) * unit
	o.Dtstart = addPeriods(o.Dtstart, periodIndex(o.Dtstart, target, period), period)
	return o
}

type peek struct {
	next func() (time.Time, bool)
	head time.Time
	ok   bool
}

func (p *peek) advance() { p.head, p.ok = p.next() }

func earliest(gens []*peek) *peek {
	var best *peek
	for _, g := range gens {
		if g.ok && (best == nil || g.head.Before(best.head)) {
			best = g
		}
	}
	return best
}

// rruleDates is Prefect's RRuleSchedule._get_dates_generator: the set's
// wall times read in the schedule's zone as dateutil's tz reads them (see
// dateutilLocalize), from start on, at most n, up to end. Like Prefect,
// which keeps the dates in a set of datetimes of one zone (compared by wall
// time), a date showing the same wall time as an earlier one is dropped.
// Occurrences before start are walked one by one (a rule with COUNT cannot
// be moved), each spending from b.
func rruleDates(b *budget, s *ruleSet, loc *time.Location, start, end time.Time, n int) []time.Time {
	// A day past end's wall time covers any zone offset.
	next := s.walls(b, wall(start, loc), wall(end, loc).AddDate(0, 0, 1))
	var out []time.Time
	seen := map[time.Time]bool{}
	counter := 0
	for {
		w, ok := next()
		if !ok {
			break
		}
		t := dateutilLocalize(w, loc)
		if t.Before(start) {
			continue
		}
		if t.After(end) {
			break
		}
		if key := wall(t, loc); !seen[key] {
			seen[key] = true
			out = append(out, t.UTC())
		}
		if len(out) >= n || counter > maxIterations {
			break
		}
		counter++
	}
	return out
}
