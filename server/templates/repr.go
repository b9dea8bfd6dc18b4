package templates

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// pyRepr is Python's repr() of a template value, as str() of a dict or a
// list shows its items.
func pyRepr(v any) string {
	switch x := v.(type) {
	case string:
		return pyStrRepr(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case float64:
		return pyFloat(x)
	case Dict:
		parts := make([]string, 0, len(x))
		for _, k := range x.keys() {
			parts = append(parts, pyStrRepr(k)+": "+pyRepr(x[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case DateTime:
		t := x.t
		args := []string{strconv.Itoa(t.Year()), strconv.Itoa(int(t.Month())), strconv.Itoa(t.Day()),
			strconv.Itoa(t.Hour()), strconv.Itoa(t.Minute())}
		us := t.Nanosecond() / 1000
		if t.Second() != 0 || us != 0 {
			args = append(args, strconv.Itoa(t.Second()))
		}
		if us != 0 {
			args = append(args, strconv.Itoa(us))
		}
		return "datetime.datetime(" + strings.Join(args, ", ") + ", tzinfo=TzInfo(UTC))"
	case UUID:
		return "UUID(" + pyStrRepr(string(x)) + ")"
	case Enum:
		return "<" + x.class + "." + x.value + ": " + pyStrRepr(x.value) + ">"
	case Duration:
		return "datetime.timedelta(" + durationArgs(x) + ")"
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func durationArgs(d Duration) string {
	us := int64(math.Round(float64(d) * 1e6))
	days := us / (86400 * 1e6)
	rem := us % (86400 * 1e6)
	if rem < 0 {
		days--
		rem += 86400 * 1e6
	}
	var args []string
	if days != 0 {
		args = append(args, fmt.Sprintf("days=%d", days))
	}
	if s := rem / 1e6; s != 0 {
		args = append(args, fmt.Sprintf("seconds=%d", s))
	}
	if f := rem % 1e6; f != 0 {
		args = append(args, fmt.Sprintf("microseconds=%d", f))
	}
	if len(args) == 0 {
		return "0"
	}
	return strings.Join(args, ", ")
}

// StrRepr is Python's repr() of a str, for messages that quote one as
// Prefect's do.
func StrRepr(s string) string { return pyStrRepr(s) }

// pyStrRepr quotes s as Python's repr() of a str does.
func pyStrRepr(s string) string {
	quote := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(quote):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x80 || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// pyFloat is Python's repr() of a float: the shortest text that reads
// back, positional between 1e-4 and 1e16, always with a fraction or an
// exponent.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	exp := 0
	if f != 0 {
		exp = int(math.Floor(math.Log10(math.Abs(f))))
		// Log10 may round across a power of ten; the digits decide.
		if s := strconv.FormatFloat(math.Abs(f), 'e', -1, 64); s != "" {
			if e, err := strconv.Atoi(s[strings.IndexByte(s, 'e')+1:]); err == nil {
				exp = e
			}
		}
	}
	if f != 0 && (exp < -4 || exp >= 16) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		mant, e, _ := strings.Cut(s, "e")
		sign := e[0]
		digits := strings.TrimLeft(e[1:], "0")
		if len(digits) < 2 {
			digits = strings.Repeat("0", 2-len(digits)) + digits
		}
		return mant + "e" + string(sign) + digits
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
