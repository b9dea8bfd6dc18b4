package schema

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"time"
	_ "time/tzdata" // schedule time zones must resolve even on images without zoneinfo

	"prefectgo.dev/prefectgo/server/settings"
)

// Schedule kinds.
const (
	ScheduleInterval = "interval"
	ScheduleCron     = "cron"
	ScheduleRRule    = "rrule"
)

// Schedule is one of Prefect's three schedule shapes, stored and sent as
// exactly one of:
//
//	{"interval": <seconds>, "anchor_date": <datetime>, "timezone": <tz>}
//	{"cron": <string>, "timezone": <tz or null>, "day_or": <bool>}
//	{"rrule": <string>, "timezone": <tz>}
//
// (the client parses a union of models that forbid extra keys, so no other
// key may appear). Normalize checks a decoded schedule and fills Prefect's
// defaults; the scheduler reads the typed fields.
type Schedule struct {
	// Interval is the period of an interval schedule.
	Interval time.Duration
	// AnchorDate is when an interval schedule's grid starts (UTC).
	AnchorDate time.Time
	// Cron is a cron expression; DayOr says whether day-of-month and
	// day-of-week are joined with OR (the cron default) or AND.
	Cron  string
	DayOr bool
	// RRule is an RFC 5545 recurrence rule, possibly with DTSTART lines.
	RRule string
	// Timezone is an IANA zone name; nil only for a cron schedule without one.
	Timezone *string

	kind string
	raw  map[string]json.RawMessage
	bad  bool // the body held something other than an object
}

// Kind says which shape the schedule has: ScheduleInterval, ScheduleCron or
// ScheduleRRule ("" before Normalize).
func (s Schedule) Kind() string { return s.kind }

// UnmarshalJSON keeps the object for Normalize, which knows where the
// schedule sits in the body and so can say where it is wrong.
func (s *Schedule) UnmarshalJSON(b []byte) error {
	*s = Schedule{}
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		s.bad = true
		return nil
	}
	if raw == nil {
		raw = map[string]json.RawMessage{}
	}
	s.raw = raw
	return nil
}

// MarshalJSON writes the schedule's one shape.
func (s Schedule) MarshalJSON() ([]byte, error) {
	switch s.kind {
	case ScheduleInterval:
		return json.Marshal(struct {
			Interval   float64   `json:"interval"`
			AnchorDate time.Time `json:"anchor_date"`
			Timezone   *string   `json:"timezone"`
		}{s.Interval.Seconds(), s.AnchorDate.UTC(), s.Timezone})
	case ScheduleCron:
		return json.Marshal(struct {
			Cron     string  `json:"cron"`
			Timezone *string `json:"timezone"`
			DayOr    bool    `json:"day_or"`
		}{s.Cron, s.Timezone, s.DayOr})
	case ScheduleRRule:
		return json.Marshal(struct {
			RRule    string  `json:"rrule"`
			Timezone *string `json:"timezone"`
		}{s.RRule, s.Timezone})
	}
	if s.raw != nil {
		return json.Marshal(s.raw)
	}
	return []byte("null"), nil
}

// present reports whether the body carried a schedule object.
func (s Schedule) present() bool { return s.kind != "" || s.raw != nil || s.bad }

// maxRRuleLength is Prefect's bound on rrule strings (about a year of RDATEs).
const maxRRuleLength = 6500

// Normalize checks the schedule decoded from a body and fills Prefect's
// defaults: the anchor date (now) and time zone (UTC) of an interval
// schedule, day_or (true) of a cron schedule, the zone (UTC) of an rrule.
// loc is where the schedule sits in the body, for the error.
func (s *Schedule) Normalize(loc string, now time.Time) error {
	if s.kind != "" {
		return nil
	}
	if s.bad {
		return Invalid(loc, "Input should be a valid dictionary")
	}
	raw := s.raw
	if raw == nil {
		return Invalid(loc, "Field required")
	}
	str := func(key string) (string, error) {
		var v string
		if err := json.Unmarshal(raw[key], &v); err != nil {
			return "", Invalid(loc+"."+key, "Input should be a valid string")
		}
		return v, nil
	}
	only := func(kind string, keys ...string) error {
		for k := range raw {
			allowed := false
			for _, a := range keys {
				allowed = allowed || a == k
			}
			if !allowed {
				return Invalid(loc+"."+kind+"."+k, "Extra inputs are not permitted")
			}
		}
		return nil
	}
	tz, err := scheduleTimezone(loc, raw["timezone"])
	if err != nil {
		return err
	}
	switch {
	case raw["interval"] != nil:
		if err := only("IntervalSchedule", "interval", "anchor_date", "timezone"); err != nil {
			return err
		}
		d, err := parseInterval(raw["interval"])
		if err != nil {
			return Invalid(loc+".interval", "Input should be a valid timedelta")
		}
		if d <= 0 {
			return Invalid(loc+".interval", "Value error, interval must be positive")
		}
		anchor := now.UTC()
		if a := raw["anchor_date"]; a != nil && string(a) != "null" {
			var terr *DateTimeError
			if anchor, terr = parseAnchor(a, tz); terr != nil {
				return Invalid(loc+".anchor_date", terr.Msg)
			}
		}
		if tz == nil {
			utc := "UTC"
			tz = &utc
		}
		s.kind, s.Interval, s.AnchorDate, s.Timezone = ScheduleInterval, d, anchor.UTC().Truncate(time.Microsecond), tz
	case raw["cron"] != nil:
		if err := only("CronSchedule", "cron", "timezone", "day_or"); err != nil {
			return err
		}
		c, err := str("cron")
		if err != nil {
			return err
		}
		if err := validateCron(loc+".cron", c); err != nil {
			return err
		}
		dayOr := true
		if v := raw["day_or"]; v != nil && string(v) != "null" {
			if err := json.Unmarshal(v, &dayOr); err != nil {
				return Invalid(loc+".day_or", "Input should be a valid boolean")
			}
		}
		s.kind, s.Cron, s.DayOr, s.Timezone = ScheduleCron, c, dayOr, tz
	case raw["rrule"] != nil:
		if err := only("RRuleSchedule", "rrule", "timezone"); err != nil {
			return err
		}
		r, err := str("rrule")
		if err != nil {
			return err
		}
		if err := validateRRule(loc+".rrule", r); err != nil {
			return err
		}
		if tz == nil {
			utc := "UTC"
			tz = &utc
		}
		s.kind, s.RRule, s.Timezone = ScheduleRRule, r, tz
	default:
		return Invalid(loc, "Input should be an interval, cron or rrule schedule")
	}
	s.raw = nil
	return nil
}

// scheduleTimezone reads and checks the timezone key (nil when absent).
func scheduleTimezone(loc string, raw json.RawMessage) (*string, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var tz string
	if err := json.Unmarshal(raw, &tz); err != nil {
		return nil, Invalid(loc+".timezone", "Input should be a valid string")
	}
	if tz == "" {
		return nil, nil
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
		return nil, Invalid(loc+".timezone", `Value error, Invalid timezone: "`+tz+`" (specify in IANA tzdata format, for example, America/New_York)`)
	}
	return &tz, nil
}

// parseInterval reads a timedelta as pydantic does: seconds as a number, or
// an ISO 8601 duration string.
func parseInterval(raw json.RawMessage) (time.Duration, error) {
	var secs float64
	if err := json.Unmarshal(raw, &secs); err == nil {
		// A Duration holds 292 years; past that the conversion would wrap.
		if math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) >= math.MaxInt64/float64(time.Second) {
			return 0, errInvalidInterval
		}
		return time.Duration(math.Round(secs * float64(time.Second))), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, err
	}
	return settings.ParseDuration(s)
}

type intervalError struct{}

func (intervalError) Error() string { return "invalid interval" }

var errInvalidInterval error = intervalError{}

// parseAnchor reads an anchor date; one without an offset is in the
// schedule's zone, or UTC.
func parseAnchor(raw json.RawMessage, tz *string) (time.Time, *DateTimeError) {
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return parseDateTimeJSON(raw) // a Unix timestamp, or the wrong type
	}
	loc := time.UTC
	if tz != nil {
		if l, err := time.LoadLocation(*tz); err == nil {
			loc = l
		}
	}
	return ParseDateTime(str, loc)
}

var cronMacros = map[string]bool{"@yearly": true, "@annually": true, "@monthly": true, "@weekly": true,
	"@daily": true, "@midnight": true, "@hourly": true}

// validateCron checks the shape of a cron expression: five fields (or six,
// with seconds) of the characters cron uses, or a macro such as @daily.
// Prefect also rejects croniter's random and hashed fields (R, H).
func validateCron(loc, c string) error {
	invalid := Invalid(loc, `Value error, Invalid cron string: "`+c+`"`)
	trimmed := strings.TrimSpace(c)
	if cronMacros[strings.ToLower(trimmed)] {
		return nil
	}
	fields := strings.Fields(trimmed)
	if len(fields) < 5 || len(fields) > 6 {
		return invalid
	}
	for _, f := range fields {
		if strings.EqualFold(f, "R") || strings.EqualFold(f, "H") || strings.HasPrefix(strings.ToUpper(f), "H(") {
			return Invalid(loc, `Value error, Random and Hashed expressions are unsupported, received: "`+c+`"`)
		}
		for _, r := range f {
			ok := r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
				strings.ContainsRune("*,/-?#", r)
			if !ok {
				return invalid
			}
		}
	}
	return nil
}

// validateRRule checks that an rrule string looks like one: a FREQ rule or
// RDATE lines, within Prefect's length bound.
func validateRRule(loc, r string) error {
	if len(r) > maxRRuleLength {
		return Invalid(loc, `Value error, Invalid RRule string "`+r[:40]+`..."`+"\n"+
			"Max length is "+itoa(maxRRuleLength)+", got "+itoa(len(r)))
	}
	u := strings.ToUpper(r)
	if !strings.Contains(u, "FREQ=") && !strings.Contains(u, "RDATE") {
		return Invalid(loc, `Value error, Invalid RRule string "`+r+`": unknown parameter name`)
	}
	return nil
}
