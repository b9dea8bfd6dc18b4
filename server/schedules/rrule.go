package schedules

import (
	"errors"
	"fmt"
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
	for i := range set.rrules {
		set.rrules[i].Dtstart = dtstart
	}
	for i := range set.exrules {
		set.exrules[i].Dtstart = dtstart
	}
	// Build each rule once now, so a rule rrule-go rejects fails here.
	for _, opts := range [][]rrule.ROption{set.rrules, set.exrules} {
		for _, o := range opts {
			if _, err := rrule.NewRRule(o); err != nil {
				return nil, err
			}
		}
	}
	return set, nil
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
			return wall(t, t.Location()), nil
		}
	}
	if strings.HasSuffix(s, "Z") {
		return parseWallDate(strings.TrimSuffix(s, "Z"))
	}
	return time.Time{}, fmt.Errorf("unknown string format: %s", s)
}

// maxSkippedOccurrences bounds the occurrences walked before start, so a
// rule anchored far in the past cannot stall a scheduler pass.
const maxSkippedOccurrences = 2_000_000

// walls iterates the set's wall times in order, as dateutil's rruleset does:
// rules and dates merged, excluded times dropped, repeats dropped. Rules
// without COUNT that repeat every few seconds, minutes or hours start at the
// last whole period two days before notBefore (the same occurrences from
// there on, as Prefect's normalize_rrule_string argues).
func (s *ruleSet) walls(notBefore time.Time) func() (time.Time, bool) {
	iter := func(opts []rrule.ROption, dates []time.Time) []*peek {
		var gens []*peek
		for _, o := range opts {
			o = advanceStart(o, notBefore.Add(-48*time.Hour))
			r, err := rrule.NewRRule(o)
			if err != nil {
				continue
			}
			gens = append(gens, &peek{next: r.Iterator()})
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
		for {
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
				x.advance()
			}
			if x := earliest(exclude); x != nil && x.head.Equal(t) {
				continue
			}
			return t, true
		}
	}
}

// advanceStart moves a sub-daily rule without COUNT forward by whole
// periods to just before target.
func advanceStart(o rrule.ROption, target time.Time) rrule.ROption {
	if o.Count != 0 || !o.Dtstart.Before(target) {
		return o
	}
	interval := max(o.Interval, 1)
	var unit time.Duration
	switch o.Freq {
	case rrule.HOURLY:
		unit = time.Hour
	case rrule.MINUTELY:
		unit = time.Minute
	case rrule.SECONDLY:
		unit = time.Second
	default:
		return o
	}
	period := time.Duration(interval) * unit
	k := target.Sub(o.Dtstart) / period
	o.Dtstart = o.Dtstart.Add(k * period)
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
func rruleDates(s *ruleSet, loc *time.Location, start, end time.Time, n int) []time.Time {
	next := s.walls(wall(start, loc))
	var out []time.Time
	seen := map[time.Time]bool{}
	counter, skipped := 0, 0
	for {
		w, ok := next()
		if !ok {
			break
		}
		t := dateutilLocalize(w, loc)
		if t.Before(start) {
			if skipped++; skipped > maxSkippedOccurrences {
				break
			}
			continue
		}
		if !end.IsZero() && t.After(end) {
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
