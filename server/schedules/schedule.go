// Package schedules computes the dates of Prefect's three schedule kinds,
// interval, cron and rrule, with the semantics of Prefect's
// server/schemas/schedules.py (as of Prefect 3.9, on its whenever engine):
// the same dates across daylight-saving changes, day_or, DTSTART and the
// bounds on how many dates one call returns. It is pure: no clock, no
// database.
package schedules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // schedule zones must resolve on images without zoneinfo

	"prefectgo.dev/prefectgo/server/schema"
)

// maxIterations is Prefect's MAX_ITERATIONS: one call looks at about this
// many candidate dates at most.
const maxIterations = 1000

// Kinds of schedule, as schema.Schedule names them.
const (
	KindInterval = schema.ScheduleInterval
	KindCron     = schema.ScheduleCron
	KindRRule    = schema.ScheduleRRule
)

// Schedule is a checked schedule, ready to compute dates.
type Schedule struct {
	kind string
	loc  *time.Location
	// zone is the schedule's time zone name ("UTC" when it has none).
	zone string

	every  time.Duration // interval
	anchor time.Time     // interval
	cron   *cronExpr
	rules  *ruleSet
}

// Compile checks a decoded schedule (schema.Schedule after Normalize) and
// prepares it. Errors are *schema.ValidationError at loc plus the key at
// fault (".cron", ".rrule", ".interval", ".timezone"), which the HTTP layer
// renders as 422.
func Compile(s schema.Schedule, loc string) (Schedule, error) {
	zone := "UTC"
	if s.Timezone != nil && *s.Timezone != "" {
		zone = *s.Timezone
	}
	tz, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return Schedule{}, schema.Invalid(loc+".timezone",
			`Value error, Invalid timezone: "`+zone+`" (specify in IANA tzdata format, for example, America/New_York)`)
	}
	out := Schedule{kind: s.Kind(), loc: tz, zone: zone}
	switch s.Kind() {
	case KindInterval:
		// Python's timedelta keeps microseconds.
		out.every = s.Interval.Round(time.Microsecond)
		if out.every <= 0 {
			return Schedule{}, schema.Invalid(loc+".interval", "Value error, interval must be positive")
		}
		out.anchor = s.AnchorDate
		if out.anchor.Before(minDate) || out.anchor.After(maxDate) {
			return Schedule{}, schema.Invalid(loc+".anchor_date", "Input should be a valid datetime")
		}
	case KindCron:
		c, err := parseCron(s.Cron, s.DayOr)
		if err != nil {
			return Schedule{}, schema.Invalid(loc+".cron", `Value error, Invalid cron string: "`+s.Cron+`"`)
		}
		out.cron = c
	case KindRRule:
		r, err := parseRRule(s.RRule)
		if err != nil {
			return Schedule{}, schema.Invalid(loc+".rrule", `Value error, Invalid RRule string "`+s.RRule+`": `+err.Error())
		}
		out.rules = r
	default:
		return Schedule{}, schema.Invalid(loc, "Input should be an interval, cron or rrule schedule")
	}
	return out, nil
}

// Parse decodes a schedule as it is stored and sent ({"interval": seconds,
// "anchor_date", "timezone"}, {"cron", "timezone", "day_or"} or {"rrule",
// "timezone"}), fills Prefect's defaults (an interval schedule without an
// anchor is anchored at now) and compiles it. Errors are
// *schema.ValidationError located relative to the schedule object
// ("cron", "timezone", ...).
func Parse(raw []byte, now time.Time) (Schedule, error) {
	var s schema.Schedule
	if err := json.Unmarshal(raw, &s); err != nil {
		return Schedule{}, schema.Invalid("", "Input should be a valid dictionary")
	}
	if err := s.Normalize("", now); err != nil {
		return Schedule{}, relative(err)
	}
	out, err := Compile(s, "")
	return out, relative(err)
}

// relative drops the leading dot of a location built from an empty prefix.
func relative(err error) error {
	if v, ok := err.(*schema.ValidationError); ok {
		return &schema.ValidationError{Loc: strings.TrimPrefix(v.Loc, "."), Msg: v.Msg}
	}
	return err
}

// Check reports whether a decoded schedule is one Prefect would accept,
// as Compile does; the deployments API calls it after Normalize.
func Check(s schema.Schedule, loc string) error {
	_, err := Compile(s, loc)
	return err
}

// Kind is KindInterval, KindCron or KindRRule.
func (s Schedule) Kind() string { return s.kind }

// Location is the schedule's time zone (UTC when it names none).
func (s Schedule) Location() *time.Location { return s.loc }

// ClassName is the name of Prefect's schedule class, which Prefect shows
// as the display value of a run's creator when the schedule has no slug.
func (s Schedule) ClassName() string {
	switch s.kind {
	case KindInterval:
		return "IntervalSchedule"
	case KindCron:
		return "CronSchedule"
	case KindRRule:
		return "RRuleSchedule"
	}
	return ""
}

// Python's datetime range, which bounds every date Prefect can compute: a
// schedule yields nothing outside it (where Prefect would raise).
var (
	minDate = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// ErrTooMuchWork says a schedule needs more than maxWork steps for one
// call, as a rule with COUNT anchored centuries before the window does.
var ErrTooMuchWork = errors.New("schedule needs too much work to compute its dates")

// maxWork bounds the steps of one Dates call (loop turns, candidates
// looked at, occurrences walked), whatever the schedule: one schedule
// must never stall a scheduler pass. Ordinary schedules need a few
// thousand; an rrule walked from its DTSTART spends one per occurrence.
const maxWork = 250_000

// budget counts the work of one Dates call and stops it when maxWork is
// spent or its context is done.
type budget struct {
	ctx   context.Context
	spent int
	err   error
}

// step spends one unit; false means stop now (b.err says why).
func (b *budget) step() bool {
	if b.err != nil {
		return false
	}
	b.spent++
	if b.spent > maxWork {
		b.err = ErrTooMuchWork
		return false
	}
	// Checking a context costs more than a step: every 1024 steps.
	if b.spent&1023 == 0 {
		if err := b.ctx.Err(); err != nil {
			b.err = err
			return false
		}
	}
	return true
}

// Dates returns up to n dates of the schedule at or after start and, unless
// end is zero, at or before end, in order (in UTC). n <= 0 means Prefect's
// default: 1 without an end, maxIterations with one. Like Prefect, one call
// looks at about maxIterations candidates at most. The work of a call is
// bounded (maxWork); it stops early with ctx.Err() when ctx is done, or with
// ErrTooMuchWork, returning the dates found so far (a prefix of the answer).
func (s Schedule) Dates(ctx context.Context, start, end time.Time, n int) ([]time.Time, error) {
	out, _, err := s.dates(ctx, start, end, n)
	return out, err
}

// dates is Dates, also reporting the work spent.
func (s Schedule) dates(ctx context.Context, start, end time.Time, n int) ([]time.Time, int, error) {
	b := &budget{ctx: ctx}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if n <= 0 {
		n = 1
		if !end.IsZero() {
			n = maxIterations
		}
	}
	if end.IsZero() || end.After(maxDate) {
		end = maxDate
	}
	if start.Before(minDate) {
		start = minDate
	}
	if start.After(end) {
		return nil, 0, nil
	}
	var out []time.Time
	switch s.kind {
	case KindInterval:
		out = intervalDates(b, s.every, s.anchor, s.loc, s.zone == "UTC", start, end, n)
	case KindCron:
		out = cronDates(b, s.cron, s.loc, start, end, n)
	case KindRRule:
		out = rruleDates(b, s.rules, s.loc, start, end, n)
	}
	sortTimes(out)
	return out, b.spent, b.err
}

// FormatDate writes t in the schedule's zone as Python's str() writes the
// datetime Prefect computes ("2024-03-10 09:00:00-04:00", with microseconds
// only when there are some): the date part of the idempotency key of an
// auto-scheduled run, "scheduled {deployment_id} {schedule_id} {date}".
func (s Schedule) FormatDate(t time.Time) string {
	loc := s.loc
	if loc == nil {
		loc = time.UTC
	}
	l := t.In(loc)
	out := l.Format("2006-01-02 15:04:05")
	if us := l.Nanosecond() / 1000; us != 0 {
		out += fmt.Sprintf(".%06d", us)
	}
	_, off := l.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	out += fmt.Sprintf("%c%02d:%02d", sign, off/3600, off/60%60)
	if sec := off % 60; sec != 0 {
		out += fmt.Sprintf(":%02d", sec)
	}
	return out
}

func sortTimes(ts []time.Time) {
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
}
