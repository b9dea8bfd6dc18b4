package schema

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"time"
)

// The instants the server accepts: pydantic's datetime holds years 1 to
// 9999, and every stored time is UTC, so the bound applies after converting
// to UTC. A value pydantic accepts but whose UTC instant falls outside
// (0001-01-01T00:00:00+14:00, 9999-12-31T23:00:00-14:00) is refused too:
// Prefect itself cannot store or read those back, and Go cannot write a
// year past 9999 as JSON.
var (
	MinDateTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxDateTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// DateTime is a datetime read from a request as Prefect's pydantic models
// read one (see ParseDateTime). It is the one type for every datetime a
// client sends; it writes itself as time.Time does.
type DateTime struct{ time.Time }

// UnmarshalJSON reads a datetime string or a Unix timestamp; null leaves the
// zero time. A bad value is reported as a *json.UnmarshalTypeError so that
// encoding/json records the field's path; DateTimeDecodeError turns it back
// into pydantic's words.
func (t *DateTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := parseDateTimeJSON(b)
	if err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: dateTimeType}
	}
	t.Time = v
	return nil
}

// Ptr returns the time, or nil for a nil DateTime. (The zero time is
// 0001-01-01T00:00:00Z, a datetime clients may send.)
func (t *DateTime) Ptr() *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}

func dateTimePtr(t *time.Time) *DateTime {
	if t == nil {
		return nil
	}
	return &DateTime{*t}
}

var dateTimeType = reflect.TypeFor[DateTime]()

// DateTimeDecodeError says what pydantic would about a decoding failure of a
// DateTime (ok is false for any other type error).
func DateTimeDecodeError(e *json.UnmarshalTypeError) (err *DateTimeError, ok bool) {
	if e.Type != dateTimeType {
		return nil, false
	}
	if _, perr := parseDateTimeJSON([]byte(e.Value)); perr != nil {
		return perr, true
	}
	return &DateTimeError{Type: "datetime_type", Msg: "Input should be a valid datetime"}, true
}

// DateTimeError is a datetime pydantic would refuse, in its terms.
type DateTimeError struct {
	Type string // datetime_type, datetime_parsing, datetime_from_date_parsing
	Msg  string
}

func (e *DateTimeError) Error() string { return e.Msg }

func parseDateTimeJSON(b []byte) (time.Time, *DateTimeError) {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return time.Time{}, wrongType
		}
		return ParseDateTime(s, time.UTC)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return time.Time{}, wrongType // true, false, an object or a list
	}
	return fromUnix(f)
}

var wrongType = &DateTimeError{Type: "datetime_type", Msg: "Input should be a valid datetime"}

func dateErr(reason string) *DateTimeError {
	return &DateTimeError{Type: "datetime_from_date_parsing", Msg: "Input should be a valid datetime or date, " + reason}
}

func rangeErr(reason string) *DateTimeError {
	return &DateTimeError{Type: "datetime_parsing", Msg: "Input should be a valid datetime, " + reason}
}

var errOutOfRange = rangeErr("the time in UTC must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z")

// ParseDateTime reads a datetime as pydantic does: YYYY-MM-DD, optionally
// followed by T, t, _ or a space and HH:MM[:SS[.ffffff]] with an optional
// Z or ±HH[:]MM offset; or a number of seconds since the epoch
// (milliseconds past 2e10, as pydantic guesses). A time without an offset
// is taken in naive (UTC for every field but a schedule's anchor date).
// Fractions past the microsecond are dropped. The result is UTC, within
// [MinDateTime, MaxDateTime].
func ParseDateTime(s string, naive *time.Location) (time.Time, *DateTimeError) {
	if isNumber(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, dateErr("invalid number")
		}
		return fromUnix(f)
	}
	p := dtParser{s: s}
	year, e1 := p.digits(4, "year")
	if e1 != nil {
		return time.Time{}, e1
	}
	if err := p.expect('-', "invalid date separator, expected `-`"); err != nil {
		return time.Time{}, err
	}
	month, e2 := p.digits(2, "month")
	if e2 != nil {
		return time.Time{}, e2
	}
	if err := p.expect('-', "invalid date separator, expected `-`"); err != nil {
		return time.Time{}, err
	}
	day, e3 := p.digits(2, "day")
	if e3 != nil {
		return time.Time{}, e3
	}
	if year == 0 {
		return time.Time{}, rangeErr("year 0 is out of range")
	}
	if month < 1 || month > 12 {
		return time.Time{}, dateErr("month value is outside expected range of 1-12")
	}
	if day < 1 || day > daysIn(year, month) {
		return time.Time{}, dateErr("day value is outside expected range")
	}
	var hour, minute, sec, nsec int
	loc := naive
	if !p.done() {
		switch p.s[p.i] {
		case 'T', 't', '_', ' ':
			p.i++
		default:
			return time.Time{}, dateErr("unexpected extra characters at the end of the input")
		}
		var err *DateTimeError
		if hour, minute, sec, nsec, err = p.clock(); err != nil {
			return time.Time{}, err
		}
		if loc, err = p.zone(naive); err != nil {
			return time.Time{}, err
		}
		if !p.done() {
			return time.Time{}, dateErr("unexpected extra characters at the end of the input")
		}
	}
	return inRange(time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc))
}

func inRange(t time.Time) (time.Time, *DateTimeError) {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Before(MinDateTime) || t.After(MaxDateTime) {
		return time.Time{}, errOutOfRange
	}
	return t, nil
}

// fromUnix reads a Unix timestamp, in milliseconds when its magnitude is
// past 2e10 (pydantic's rule).
func fromUnix(f float64) (time.Time, *DateTimeError) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, wrongType
	}
	if math.Abs(f) > 2e10 {
		f /= 1000
	}
	// Past these the seconds overflow nothing yet but the year is out of range.
	if f > float64(MaxDateTime.Unix()+1) {
		return time.Time{}, rangeErr("dates after 9999 are not supported as unix timestamps")
	}
	if f < float64(MinDateTime.Unix()) {
		return time.Time{}, rangeErr("dates before 0001 are not supported as unix timestamps")
	}
	sec := math.Floor(f)
	usec := math.Round((f - sec) * 1e6)
	return inRange(time.Unix(int64(sec), int64(usec)*1000))
}

func isNumber(s string) bool {
	digits, dot := 0, false
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case (c == '-' || c == '+') && i == 0:
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// dtParser walks a datetime string.
type dtParser struct {
	s string
	i int
}

func (p *dtParser) done() bool { return p.i >= len(p.s) }

func (p *dtParser) digits(n int, what string) (int, *DateTimeError) {
	if p.i+n > len(p.s) {
		return 0, dateErr("input is too short")
	}
	v := 0
	for _, c := range p.s[p.i : p.i+n] {
		if c < '0' || c > '9' {
			return 0, dateErr("invalid character in " + what)
		}
		v = v*10 + int(c-'0')
	}
	p.i += n
	return v, nil
}

func (p *dtParser) expect(c byte, msg string) *DateTimeError {
	if p.done() {
		return dateErr("input is too short")
	}
	if p.s[p.i] != c {
		return dateErr(msg)
	}
	p.i++
	return nil
}

// clock reads HH:MM[:SS[.f]].
func (p *dtParser) clock() (hour, minute, sec, nsec int, err *DateTimeError) {
	if hour, err = p.digits(2, "hour"); err != nil {
		return
	}
	if err = p.expect(':', "invalid time separator, expected `:`"); err != nil {
		return
	}
	if minute, err = p.digits(2, "minute"); err != nil {
		return
	}
	if hour > 23 {
		return 0, 0, 0, 0, dateErr("hour value is outside expected range of 0-23")
	}
	if minute > 59 {
		return 0, 0, 0, 0, dateErr("minute value is outside expected range of 0-59")
	}
	if p.done() || p.s[p.i] != ':' {
		return
	}
	p.i++
	if sec, err = p.digits(2, "second"); err != nil {
		return
	}
	if sec > 59 {
		return 0, 0, 0, 0, dateErr("second value is outside expected range of 0-59")
	}
	if p.done() || (p.s[p.i] != '.' && p.s[p.i] != ',') {
		return
	}
	p.i++
	start, scale := p.i, 100_000_000
	for ; !p.done() && p.s[p.i] >= '0' && p.s[p.i] <= '9'; p.i++ {
		nsec += int(p.s[p.i]-'0') * scale
		scale /= 10
	}
	if p.i == start {
		return 0, 0, 0, 0, dateErr("second fraction must contain at least one digit")
	}
	return
}

// zone reads Z or ±HH[:]MM; none means naive.
func (p *dtParser) zone(naive *time.Location) (*time.Location, *DateTimeError) {
	if p.done() {
		return naive, nil
	}
	switch p.s[p.i] {
	case 'Z', 'z':
		p.i++
		return time.UTC, nil
	case '+', '-':
	default:
		return nil, dateErr("unexpected extra characters at the end of the input")
	}
	sign := 1
	if p.s[p.i] == '-' {
		sign = -1
	}
	p.i++
	h, err := p.digits(2, "timezone")
	if err != nil {
		return nil, err
	}
	if !p.done() && p.s[p.i] == ':' {
		p.i++
	}
	m, err := p.digits(2, "timezone")
	if err != nil {
		return nil, err
	}
	if h > 23 || m > 59 {
		return nil, dateErr("timezone offset must be less than 24 hours")
	}
	return time.FixedZone("", sign*(h*3600+m*60)), nil
}
