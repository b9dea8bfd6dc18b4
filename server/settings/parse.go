package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// parse turns a raw value into the Go value for st's field, validated. On
// failure it returns the reason, phrased to follow "VAR=value: ".
func (st *Setting) parse(raw string) (any, string) {
	if st.Kind != KindString {
		raw = strings.TrimSpace(raw)
	}
	if r, ok := st.legacy[strings.ToLower(raw)]; ok {
		raw = r
	}
	var (
		v      any
		number float64 // what Min and Max apply to
		err    error
	)
	switch st.Kind {
	case KindString:
		v = raw
	case KindInt:
		var n int
		if n, err = strconv.Atoi(raw); err != nil {
			return nil, "not an integer"
		}
		v, number = n, float64(n)
	case KindFloat:
		var f float64
		if f, err = strconv.ParseFloat(raw, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, "not a number"
		}
		v, number = f, f
	case KindBool:
		var b bool
		if b, err = parseBool(raw); err != nil {
			return nil, "not a boolean (true/false, 1/0, yes/no, on/off)"
		}
		v = b
	case KindDuration, KindSeconds:
		var d time.Duration
		if d, err = ParseDuration(raw); err != nil {
			return nil, "not a duration (ISO 8601 like PT15S, P7D, PT1H30M, or seconds like 5 or 2.5)"
		}
		v, number = d, d.Seconds()
	case KindSize:
		var n int64
		if n, err = ParseSize(raw); err != nil {
			return nil, "not a size in bytes (an integer like 1048576, or with a unit like 16MiB or 500KB)"
		}
		v, number = n, float64(n)
	case KindEnum:
		i := slices.IndexFunc(st.Enum, func(e string) bool { return strings.EqualFold(e, raw) })
		if i < 0 {
			return nil, "must be one of " + strings.Join(st.Enum, ", ")
		}
		v = st.Enum[i]
	case KindList:
		items, reason := st.parseList(raw)
		if reason != "" {
			return nil, reason
		}
		v = items
	default:
		panic("settings: unknown kind " + string(st.Kind))
	}
	if reason := st.checkRange(number); reason != "" {
		return nil, reason
	}
	if st.check != nil {
		if reason := st.check(v); reason != "" {
			return nil, reason
		}
	}
	return v, ""
}

// parseList accepts "a,b" and JSON arrays; the result is sorted and without
// duplicates because the items form a set.
func (st *Setting) parseList(raw string) ([]string, string) {
	var items []string
	if strings.HasPrefix(raw, "[") {
		if err := json.Unmarshal([]byte(raw), &items); err != nil {
			return nil, "not a list (comma-separated, or a JSON array of strings)"
		}
	} else {
		items = strings.Split(raw, ",")
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if len(st.Enum) > 0 {
			i := slices.IndexFunc(st.Enum, func(e string) bool { return strings.EqualFold(e, item) })
			if i < 0 {
				return nil, fmt.Sprintf("%q is not one of %s", item, strings.Join(st.Enum, ", "))
			}
			item = st.Enum[i]
		}
		out = append(out, item)
	}
	slices.Sort(out)
	return slices.Compact(out), ""
}

func (st *Setting) checkRange(x float64) string {
	if st.Kind == KindBool || st.Kind == KindString || st.Kind == KindEnum || st.Kind == KindList {
		return ""
	}
	lowOK := st.Min == nil || x > *st.Min || (x == *st.Min && !st.ExclusiveMin)
	highOK := st.Max == nil || x <= *st.Max
	if lowOK && highOK {
		return ""
	}
	unit := ""
	if st.Kind == KindSeconds {
		unit = " seconds"
	}
	switch {
	case st.Min != nil && st.Max != nil && st.ExclusiveMin:
		return fmt.Sprintf("must be greater than %s and at most %s%s", st.bound(*st.Min), st.bound(*st.Max), unit)
	case st.Min != nil && st.Max != nil:
		return fmt.Sprintf("must be between %s and %s%s", st.bound(*st.Min), st.bound(*st.Max), unit)
	case st.Min != nil && st.ExclusiveMin:
		return fmt.Sprintf("must be greater than %s%s", st.bound(*st.Min), unit)
	case st.Min != nil:
		return fmt.Sprintf("must be at least %s%s", st.bound(*st.Min), unit)
	default:
		return fmt.Sprintf("must be at most %s%s", st.bound(*st.Max), unit)
	}
}

// bound writes a limit the way the user writes values of this kind.
func (st *Setting) bound(x float64) string {
	if st.Kind == KindDuration && x != 0 {
		return FormatDuration(time.Duration(x * float64(time.Second)))
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// format writes a field value so that parse reads it back unchanged.
func (st *Setting) format(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Duration:
		if st.Kind == KindSeconds {
			return strconv.FormatFloat(v.Seconds(), 'f', -1, 64)
		}
		return FormatDuration(v)
	case []string:
		if len(v) == 0 {
			return "[]" // an empty value would mean "unset", not "none"
		}
		return strings.Join(v, ",")
	}
	panic(fmt.Sprintf("settings: cannot format %T", v))
}

// parseBool accepts what pydantic accepts.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "t", "yes", "y", "on":
		return true, nil
	case "0", "false", "f", "no", "n", "off":
		return false, nil
	}
	return false, errors.New("invalid boolean")
}

var errDuration = errors.New("invalid duration")

// ParseDuration reads an ISO 8601 duration (PT15S, P7D, PT1H30M, P1DT2H,
// PT0.5S; any component may have a fraction; Y is 365 days and M before T is
// 30 days, as in pydantic) or a number of seconds (5, 2.5). A leading sign is
// allowed, so validation can say "must not be negative" rather than "invalid".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		neg, s = s[0] == '-', s[1:]
	}
	var d time.Duration
	if strings.HasPrefix(s, "P") || strings.HasPrefix(s, "p") {
		var err error
		if d, err = parseISODuration(strings.ToUpper(s[1:])); err != nil {
			return 0, err
		}
	} else {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return 0, errDuration
		}
		ns := math.Round(f * float64(time.Second))
		if ns >= math.MaxInt64 {
			return 0, errDuration
		}
		d = time.Duration(ns)
	}
	if neg {
		d = -d
	}
	return d, nil
}

const day = 24 * time.Hour

type designator struct {
	letter byte
	unit   time.Duration
}

var (
	dateDesignators = []designator{{'Y', 365 * day}, {'M', 30 * day}, {'W', 7 * day}, {'D', day}}
	timeDesignators = []designator{{'H', time.Hour}, {'M', time.Minute}, {'S', time.Second}}
)

// parseISODuration reads what follows the P.
func parseISODuration(s string) (time.Duration, error) {
	datePart, timePart, hasT := strings.Cut(s, "T")
	if (datePart == "" && !hasT) || (hasT && timePart == "") {
		return 0, errDuration // "P" and "PT" say nothing
	}
	var total time.Duration
	for _, p := range []struct {
		text        string
		designators []designator
	}{{datePart, dateDesignators}, {timePart, timeDesignators}} {
		rest, next := p.text, 0 // components come in order, each at most once
		for rest != "" {
			i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != ',' })
			if i <= 0 {
				return 0, errDuration
			}
			number, letter := rest[:i], rest[i]
			rest = rest[i+1:]
			j := next
			for j < len(p.designators) && p.designators[j].letter != letter {
				j++
			}
			if j == len(p.designators) {
				return 0, errDuration
			}
			next = j + 1
			d, err := scaleDecimal(strings.Replace(number, ",", ".", 1), p.designators[j].unit)
			if err != nil {
				return 0, err
			}
			if total > math.MaxInt64-d {
				return 0, errDuration
			}
			total += d
		}
	}
	return total, nil
}

// scaleDecimal multiplies a non-negative decimal by unit without going
// through a float for the integer part, so P100D is exact.
func scaleDecimal(number string, unit time.Duration) (time.Duration, error) {
	intPart, frac, _ := strings.Cut(number, ".")
	if intPart == "" && frac == "" {
		return 0, errDuration
	}
	var whole int64
	if intPart != "" {
		n, err := strconv.ParseInt(intPart, 10, 64)
		if err != nil || n > math.MaxInt64/int64(unit) {
			return 0, errDuration
		}
		whole = n * int64(unit)
	}
	if frac == "" {
		return time.Duration(whole), nil
	}
	f, err := strconv.ParseFloat("0."+frac, 64)
	if err != nil {
		return 0, errDuration
	}
	part := int64(math.Round(f * float64(unit)))
	if whole > math.MaxInt64-part {
		return 0, errDuration
	}
	return time.Duration(whole + part), nil
}

// FormatDuration writes d as ISO 8601 in days, hours, minutes and seconds
// (P7D, PT1H30M, PT0.5S, PT0S), the form ParseDuration reads back exactly.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "PT0S"
	}
	var b strings.Builder
	u := uint64(d)
	if d < 0 {
		b.WriteByte('-')
		u = -u
	}
	b.WriteByte('P')
	if days := u / uint64(day); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		u %= uint64(day)
	}
	if u == 0 {
		return b.String()
	}
	b.WriteByte('T')
	if h := u / uint64(time.Hour); h > 0 {
		fmt.Fprintf(&b, "%dH", h)
		u %= uint64(time.Hour)
	}
	if m := u / uint64(time.Minute); m > 0 {
		fmt.Fprintf(&b, "%dM", m)
		u %= uint64(time.Minute)
	}
	if u > 0 {
		fmt.Fprintf(&b, "%d", u/uint64(time.Second))
		if ns := u % uint64(time.Second); ns > 0 {
			b.WriteString(strings.TrimRight(fmt.Sprintf(".%09d", ns), "0"))
		}
		b.WriteByte('S')
	}
	return b.String()
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1_000, "mb": 1_000_000, "gb": 1_000_000_000, "tb": 1_000_000_000_000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize reads a number of bytes: a plain integer, or an integer followed
// by B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of
// 1024), case-insensitive, optionally separated by a space: 16MiB, 500 KB.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '-' && r != '+' })
	if i < 0 {
		i = len(s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if !ok || (n != 0 && (n > math.MaxInt64/mult || n < math.MinInt64/mult)) {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}
