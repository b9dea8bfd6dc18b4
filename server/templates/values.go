package templates

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// The values a template sees are Go values that render and behave as
// Prefect's Python objects do under Jinja: None renders "None" and is false,
// an attribute that is not there is undefined (it renders "" and its own
// attributes are undefined too, as Jinja's ChainableUndefined), a model's
// datetimes, enums and durations print as Python prints them.

// noneValue is Python's None. A nil map is false and has no keys.
type noneValue map[string]struct{}

// None is the value of JSON null.
var None any = noneValue(nil)

func (noneValue) String() string                          { return "None" }
func (noneValue) GetAttribute(string) (*exec.Value, bool) { return exec.AsValue(undefined), true }
func (noneValue) GetItem(any) (*exec.Value, bool)         { return exec.AsValue(undefined), true }

// undefinedValue is what a missing name, attribute or key gives.
type undefinedValue []struct{}

var undefined any = undefinedValue(nil)

func (undefinedValue) String() string                          { return "" }
func (undefinedValue) GetAttribute(string) (*exec.Value, bool) { return exec.AsValue(undefined), true }
func (undefinedValue) GetItem(any) (*exec.Value, bool)         { return exec.AsValue(undefined), true }

func isNone(v any) bool      { _, ok := v.(noneValue); return ok }
func isUndefined(v any) bool { _, ok := v.(undefinedValue); return ok || v == nil }

// Dict is a JSON object: a Python dict. Its keys iterate and print sorted
// (the databases do not keep a JSON object's key order either).
type Dict map[string]any

func (d Dict) keys() []string {
	out := make([]string, 0, len(d))
	for k := range d {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// GetAttribute reads a key, else one of dict's read-only methods.
func (d Dict) GetAttribute(name string) (*exec.Value, bool) {
	if v, ok := d[name]; ok {
		return exec.AsValue(v), true
	}
	switch name {
	case "items":
		return exec.AsValue(func(*exec.VarArgs) (any, error) {
			out := make([]any, 0, len(d))
			for _, k := range d.keys() {
				out = append(out, []any{k, d[k]})
			}
			return out, nil
		}), true
	case "keys":
		return exec.AsValue(func(*exec.VarArgs) (any, error) { return anyList(d.keys()), nil }), true
	case "values":
		return exec.AsValue(func(*exec.VarArgs) (any, error) {
			out := make([]any, 0, len(d))
			for _, k := range d.keys() {
				out = append(out, d[k])
			}
			return out, nil
		}), true
	case "get":
		return exec.AsValue(func(args *exec.VarArgs) (any, error) {
			if len(args.Args) == 0 || len(args.Args) > 2 {
				return nil, fmt.Errorf("get expected at most 2 arguments, got %d", len(args.Args))
			}
			if v, ok := d[args.Args[0].String()]; ok {
				return v, nil
			}
			if len(args.Args) == 2 {
				return args.Args[1].Interface(), nil
			}
			return None, nil
		}), true
	}
	return exec.AsValue(undefined), true
}

// GetItem reads a key.
func (d Dict) GetItem(key any) (*exec.Value, bool) {
	if s, ok := key.(string); ok {
		if v, ok := d[s]; ok {
			return exec.AsValue(v), true
		}
	}
	return exec.AsValue(undefined), true
}

func (d Dict) String() string { return pyRepr(d) }

func anyList(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// DateTime is a timezone-aware Python datetime in UTC.
type DateTime struct{ t time.Time }

// String is Python's str(): "2024-01-02 03:04:05.123456+00:00".
func (d DateTime) String() string { return d.isoformat(" ") }

func (d DateTime) isoformat(sep string) string {
	s := d.t.Format("2006-01-02" + sep + "15:04:05")
	if us := d.t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s + "+00:00"
}

// jsonText is how pydantic writes it in JSON: "2024-01-02T03:04:05.123456Z".
func (d DateTime) jsonText() string {
	s := d.t.Format("2006-01-02T15:04:05")
	if us := d.t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s + "Z"
}

// GetAttribute gives the datetime's fields and its common methods.
func (d DateTime) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "year":
		return exec.AsValue(d.t.Year()), true
	case "month":
		return exec.AsValue(int(d.t.Month())), true
	case "day":
		return exec.AsValue(d.t.Day()), true
	case "hour":
		return exec.AsValue(d.t.Hour()), true
	case "minute":
		return exec.AsValue(d.t.Minute()), true
	case "second":
		return exec.AsValue(d.t.Second()), true
	case "microsecond":
		return exec.AsValue(d.t.Nanosecond() / 1000), true
	case "isoformat":
		return exec.AsValue(func(*exec.VarArgs) (any, error) { return d.isoformat("T"), nil }), true
	case "timestamp":
		return exec.AsValue(func(*exec.VarArgs) (any, error) { return float64(d.t.UnixMicro()) / 1e6, nil }), true
	case "strftime":
		return exec.AsValue(func(args *exec.VarArgs) (any, error) {
			if len(args.Args) != 1 {
				return nil, fmt.Errorf("strftime() takes exactly one argument (%d given)", len(args.Args))
			}
			return strftime(d.t, args.Args[0].String()), nil
		}), true
	}
	return exec.AsValue(undefined), true
}

func (d DateTime) GetItem(any) (*exec.Value, bool) { return exec.AsValue(undefined), true }

// strftime formats t with C's directives, as Python's datetime.strftime.
func strftime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'b':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'z':
			b.WriteString("+0000")
		case 'Z':
			b.WriteString("UTC")
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

// UUID is a Python UUID: it prints as its text.
type UUID string

func (u UUID) String() string { return string(u) }

func (u UUID) GetAttribute(name string) (*exec.Value, bool) {
	if name == "hex" {
		return exec.AsValue(strings.ReplaceAll(string(u), "-", "")), true
	}
	return exec.AsValue(undefined), true
}

func (u UUID) GetItem(any) (*exec.Value, bool) { return exec.AsValue(undefined), true }

// Enum is a member of one of Prefect's enums (StateType.COMPLETED); its
// str() names the class, its value is the wire text.
type Enum struct{ class, value string }

func (e Enum) String() string { return e.class + "." + e.value }

func (e Enum) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "value", "name":
		return exec.AsValue(e.value), true
	}
	return exec.AsValue(undefined), true
}

func (e Enum) GetItem(any) (*exec.Value, bool) { return exec.AsValue(undefined), true }

// Duration is a Python timedelta, in seconds.
type Duration float64

// String is Python's str(): "1 day, 2:03:04.500000".
func (d Duration) String() string {
	us := int64(math.Round(float64(d) * 1e6))
	days := us / (86400 * 1e6)
	rem := us % (86400 * 1e6)
	if rem < 0 {
		days--
		rem += 86400 * 1e6
	}
	s := rem / 1e6
	out := fmt.Sprintf("%d:%02d:%02d", s/3600, s%3600/60, s%60)
	if frac := rem % 1e6; frac != 0 {
		out += fmt.Sprintf(".%06d", frac)
	}
	switch {
	case days == 1 || days == -1:
		out = fmt.Sprintf("%d day, %s", days, out)
	case days != 0:
		out = fmt.Sprintf("%d days, %s", days, out)
	}
	return out
}

func (d Duration) GetAttribute(name string) (*exec.Value, bool) {
	if name == "total_seconds" {
		return exec.AsValue(func(*exec.VarArgs) (any, error) { return float64(d), nil }), true
	}
	return exec.AsValue(undefined), true
}

func (d Duration) GetItem(any) (*exec.Value, bool) { return exec.AsValue(undefined), true }

// Resource is an event's resource or related resource: its labels, with
// Prefect's id, name and role properties.
type Resource map[string]string

func (r Resource) keys() []string {
	out := make([]string, 0, len(r))
	for k := range r {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (r Resource) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "id":
		return exec.AsValue(r["prefect.resource.id"]), true
	case "name":
		return r.get("prefect.resource.name", None), true
	case "role":
		return r.get("prefect.resource.role", undefined), true
	case "root":
		d := Dict{}
		for k, v := range r {
			d[k] = v
		}
		return exec.AsValue(d), true
	case "labels":
		return exec.AsValue(newLabelDiver(r, "")), true
	case "keys":
		return exec.AsValue(func(*exec.VarArgs) (any, error) { return anyList(r.keys()), nil }), true
	case "items":
		return exec.AsValue(func(*exec.VarArgs) (any, error) {
			out := []any{}
			for _, k := range r.keys() {
				out = append(out, []any{k, r[k]})
			}
			return out, nil
		}), true
	case "get":
		return exec.AsValue(func(args *exec.VarArgs) (any, error) {
			if len(args.Args) == 0 || len(args.Args) > 2 {
				return nil, fmt.Errorf("get expected at most 2 arguments, got %d", len(args.Args))
			}
			if v, ok := r[args.Args[0].String()]; ok {
				return v, nil
			}
			if len(args.Args) == 2 {
				return args.Args[1].Interface(), nil
			}
			return None, nil
		}), true
	case "as_label_value_array":
		return exec.AsValue(func(*exec.VarArgs) (any, error) {
			out := []any{}
			for _, k := range r.keys() {
				out = append(out, Dict{"label": k, "value": r[k]})
			}
			return out, nil
		}), true
	}
	return exec.AsValue(undefined), true
}

func (r Resource) get(key string, missing any) *exec.Value {
	if v, ok := r[key]; ok {
		return exec.AsValue(v)
	}
	return exec.AsValue(missing)
}

// GetItem reads a label; a missing one is an error in Python (KeyError),
// undefined here as Jinja makes it.
func (r Resource) GetItem(key any) (*exec.Value, bool) {
	if s, ok := key.(string); ok {
		if v, ok := r[s]; ok {
			return exec.AsValue(v), true
		}
	}
	return exec.AsValue(undefined), true
}

// String is pydantic's str() of a RootModel.
func (r Resource) String() string {
	d := Dict{}
	for k, v := range r {
		d[k] = v
	}
	return "root=" + pyRepr(d)
}

// labelDiver is Prefect's LabelDiver: dotted labels as nested attributes
// (labels.prefect.resource.id).
type labelDiver struct {
	value  string
	divers map[string]*labelDiver
}

func newLabelDiver(labels map[string]string, value string) *labelDiver {
	sub := map[string]map[string]string{}
	values := map[string]string{}
	for k, v := range labels {
		head, tail, dotted := strings.Cut(k, ".")
		if dotted {
			if sub[head] == nil {
				sub[head] = map[string]string{}
			}
			sub[head][tail] = v
		} else {
			values[head] = v
		}
	}
	d := &labelDiver{value: value, divers: map[string]*labelDiver{}}
	for k, v := range sub {
		d.divers[k] = newLabelDiver(v, values[k])
		delete(values, k)
	}
	for k, v := range values {
		d.divers[k] = newLabelDiver(nil, v)
	}
	return d
}

// Labels is Prefect's LabelDiver over labels: the firing's labels as a
// template's labels.
func Labels(labels map[string]string) any { return newLabelDiver(labels, "") }

func (d *labelDiver) String() string { return d.value }

func (d *labelDiver) GetAttribute(name string) (*exec.Value, bool) {
	if sub, ok := d.divers[name]; ok && !strings.HasPrefix(name, "_") {
		return exec.AsValue(sub), true
	}
	return exec.AsValue(undefined), true
}

func (d *labelDiver) GetItem(any) (*exec.Value, bool) { return exec.AsValue(undefined), true }

// FromJSON turns JSON into template values: objects are Dicts, arrays
// lists, null None, and numbers ints unless they have a fraction or
// exponent, as Python's json reads them.
func FromJSON(raw []byte) any {
	if len(bytes.TrimSpace(raw)) == 0 {
		return None
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return None
	}
	return fromDecoded(v)
}

func fromDecoded(v any) any {
	switch x := v.(type) {
	case nil:
		return None
	case json.Number:
		return number(x)
	case map[string]any:
		d := make(Dict, len(x))
		for k, e := range x {
			d[k] = fromDecoded(e)
		}
		return d
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromDecoded(e)
		}
		return out
	}
	return v
}

func number(n json.Number) any {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.Atoi(s); err == nil {
			return i
		}
	}
	f, _ := n.Float64()
	return f
}
