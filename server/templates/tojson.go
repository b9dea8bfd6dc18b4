package templates

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// toJSON is Prefect's tojson filter: the value (a model as its JSON form)
// written as Python's json.dumps writes it with sort_keys (", " and ": "
// between items, non-ASCII escaped), then made safe for HTML as Jinja's
// htmlsafe_json_dumps does. indent < 0 is none.
func toJSON(v any, indent int) (string, error) {
	var b strings.Builder
	if err := writeJSON(&b, v, indent, 0, false); err != nil {
		return "", err
	}
	return strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`, "'", `\u0027`).Replace(b.String()), nil
}

// writeJSON writes v; inModel says it is inside a model, which pydantic
// dumps whole (datetimes, UUIDs and timedeltas included), where Python's
// json refuses those on their own.
func writeJSON(b *strings.Builder, v any, indent, level int, inModel bool) error {
	switch x := plain(v).(type) {
	case noneValue:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int:
		b.WriteString(strconv.Itoa(x))
	case float64:
		switch {
		case math.IsNaN(x):
			b.WriteString("NaN")
		case math.IsInf(x, 1):
			b.WriteString("Infinity")
		case math.IsInf(x, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(pyFloat(x))
		}
	case string:
		writeJSONString(b, x)
	case DateTime:
		if !inModel {
			return notSerializable("DateTime")
		}
		writeJSONString(b, x.jsonText())
	case UUID:
		if !inModel {
			return notSerializable("UUID")
		}
		writeJSONString(b, string(x))
	case Duration:
		if !inModel {
			return notSerializable("timedelta")
		}
		b.WriteString(pyFloat(float64(x)))
	case Enum:
		writeJSONString(b, x.value)
	case []any:
		return writeJSONList(b, x, indent, level, inModel)
	case Dict:
		return writeJSONObject(b, x.keys(), func(k string) any { return x[k] }, indent, level, inModel)
	case Resource:
		return writeJSONObject(b, x.keys(), func(k string) any { return x[k] }, indent, level, true)
	case *Model:
		keys := slices.Clone(x.keys)
		slices.Sort(keys)
		return writeJSONObject(b, keys, func(k string) any { return x.fields[k] }, indent, level, true)
	default:
		return notSerializable(pyTypeName(v))
	}
	return nil
}

func notSerializable(typ string) error {
	return &pyError{"TypeError", fmt.Sprintf("Object of type %s is not JSON serializable", typ)}
}

func writeJSONList(b *strings.Builder, list []any, indent, level int, inModel bool) error {
	if len(list) == 0 {
		b.WriteString("[]")
		return nil
	}
	b.WriteByte('[')
	for i, e := range list {
		if i > 0 {
			b.WriteByte(',')
			if indent < 0 {
				b.WriteByte(' ')
			}
		}
		newline(b, indent, level+1)
		if err := writeJSON(b, e, indent, level+1, inModel); err != nil {
			return err
		}
	}
	newline(b, indent, level)
	b.WriteByte(']')
	return nil
}

func writeJSONObject(b *strings.Builder, keys []string, get func(string) any, indent, level int, inModel bool) error {
	if len(keys) == 0 {
		b.WriteString("{}")
		return nil
	}
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
			if indent < 0 {
				b.WriteByte(' ')
			}
		}
		newline(b, indent, level+1)
		writeJSONString(b, k)
		b.WriteString(": ")
		if err := writeJSON(b, get(k), indent, level+1, inModel); err != nil {
			return err
		}
	}
	newline(b, indent, level)
	b.WriteByte('}')
	return nil
}

func newline(b *strings.Builder, indent, level int) {
	if indent < 0 {
		return
	}
	b.WriteByte('\n')
	b.WriteString(strings.Repeat(" ", indent*level))
}

// writeJSONString escapes as Python's json with ensure_ascii.
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r >= ' ' && r <= '~':
				b.WriteRune(r)
			case r > 0xffff:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			default:
				fmt.Fprintf(b, `\u%04x`, r)
			}
		}
	}
	b.WriteByte('"')
}

// plain turns what gonja makes of a template's own literals (lists,
// dicts, None, its Value wrapper) into the values above.
func plain(v any) any {
	switch x := v.(type) {
	case nil:
		return None
	case *exec.Value:
		return plain(x.Interface())
	case exec.ValuesList:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case *exec.Dict:
		d := Dict{}
		for _, p := range x.Pairs {
			d[p.Key.String()] = plain(p.Value)
		}
		return d
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case []int:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int(rv.Uint())
	case reflect.Float32:
		return rv.Float()
	}
	return v
}

// pyTypeName names a value's Python type, for error messages.
func pyTypeName(v any) string {
	switch v.(type) {
	case undefinedValue, nil:
		return "ChainableUndefined"
	case *labelDiver:
		return "LabelDiver"
	}
	return fmt.Sprintf("%T", v)
}
