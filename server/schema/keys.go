package schema

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
)

// Prefect's action bodies (every *Create and *Update) and its filter objects
// forbid keys they do not declare (pydantic's extra="forbid"), so a misspelt
// field is a 422 instead of being dropped; its other models ignore unknown
// keys. The Go request types carry the same rule, and UnknownKey checks a
// decoded body against them:
//   - a struct rejects a key that is none of its json fields, unless it
//     implements Lenient or Embedded;
//   - a type with its own UnmarshalJSON is free-form unless it implements
//     Shaped, naming the type whose fields are its keys;
//   - a blank field (_ T `ignored:"key"`) is a key Prefect declares that
//     this server accepts without applying it: checked as T, never decoded;
//   - maps check their values, not their keys; json.RawMessage, interfaces
//     and scalars are free-form.

// Lenient is a struct whose unknown keys are ignored, as Prefect's
// PrefectBaseModel does (state_details, empirical_policy, ...).
type Lenient interface{ IgnoresUnknownKeys() }

// Embedded is a request body that FastAPI builds from several Body(...)
// parameters: it ignores unknown top-level keys (their own objects still
// forbid theirs), and a null or absent body means every parameter's default.
// Every other body is a single model or list that the request must send.
type Embedded interface{ EmbeddedBody() }

// Shaped is a type with its own UnmarshalJSON whose keys are the json fields
// of KeysOf (a wrapper names the type it wraps; a struct that decodes through
// a plain copy of itself names that copy).
type Shaped interface{ KeysOf() reflect.Type }

// IsEmbedded reports whether the body dst points to is an Embedded one.
func IsEmbedded(dst any) bool {
	_, ok := dst.(Embedded)
	return ok
}

// UnknownKey returns the path to the first key of data that the type of
// *dst does not accept, or nil. data must be the valid JSON that was
// decoded into dst.
func UnknownKey(dst any, data []byte) []string {
	n := shapeOf(reflect.TypeOf(dst).Elem())
	if n == nil {
		return nil
	}
	s := keyScanner{b: data}
	return s.value(n)
}

// keyNode is what a type accepts: an object with fixed fields (fields set),
// a map or list whose values are elem, or nil for anything free-form.
type keyNode struct {
	fields  map[string]*keyNode
	lenient bool
	isMap   bool
	isList  bool
	elem    *keyNode
}

var (
	shapesMu sync.Mutex
	shapes   sync.Map // reflect.Type -> *keyNode (nil for free-form)

	lenientType     = reflect.TypeFor[Lenient]()
	embeddedType    = reflect.TypeFor[Embedded]()
	shapedType      = reflect.TypeFor[Shaped]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

func shapeOf(t reflect.Type) *keyNode {
	if n, ok := shapes.Load(t); ok {
		return n.(*keyNode)
	}
	shapesMu.Lock()
	defer shapesMu.Unlock()
	n := buildShape(t, map[reflect.Type]*keyNode{})
	shapes.Store(t, n)
	return n
}

// buildShape derives t's node; building holds the structs under way, so a
// recursive type refers to its own node.
func buildShape(t reflect.Type, building map[reflect.Type]*keyNode) *keyNode {
	if n, ok := building[t]; ok {
		return n
	}
	pt := reflect.PointerTo(t)
	if t.Kind() != reflect.Pointer && pt.Implements(shapedType) {
		return buildShape(reflect.New(t).Interface().(Shaped).KeysOf(), building)
	}
	if t.Kind() != reflect.Pointer && pt.Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return buildShape(t.Elem(), building)
	case reflect.Slice, reflect.Array:
		if elem := buildShape(t.Elem(), building); elem != nil {
			return &keyNode{isList: true, elem: elem}
		}
		return nil
	case reflect.Map:
		if elem := buildShape(t.Elem(), building); elem != nil {
			return &keyNode{isMap: true, elem: elem}
		}
		return nil
	case reflect.Struct:
		n := &keyNode{
			fields:  map[string]*keyNode{},
			lenient: pt.Implements(lenientType) || pt.Implements(embeddedType),
		}
		building[t] = n
		addFields(n, t, building)
		return n
	}
	return nil
}

// addFields adds t's json fields to n, flattening embedded structs as
// encoding/json does.
func addFields(n *keyNode, t reflect.Type, building map[reflect.Type]*keyNode) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Name == "_" {
			if key := f.Tag.Get("ignored"); key != "" {
				n.fields[key] = buildShape(f.Type, building)
			}
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name := tag
		for j := 0; j < len(tag); j++ {
			if tag[j] == ',' {
				name = tag[:j]
				break
			}
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			addFields(n, ft, building)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		n.fields[name] = buildShape(f.Type, building)
	}
}

// keyScanner walks valid JSON alongside a keyNode.
type keyScanner struct {
	b []byte
	i int
}

func (s *keyScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value checks the value at s.i against n and moves past it.
func (s *keyScanner) value(n *keyNode) []string {
	s.ws()
	if s.i >= len(s.b) {
		return nil
	}
	switch c := s.b[s.i]; {
	case n == nil:
	case c == '[' && n.isList:
		return s.list(n.elem)
	case c == '{' && n.isList:
		return s.value(n.elem) // one element for a list (OneOrMany)
	case c == '{':
		return s.object(n)
	}
	s.skip()
	return nil
}

func (s *keyScanner) object(n *keyNode) []string {
	s.i++ // {
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			s.i++ // }
			return nil
		}
		key := s.str()
		s.ws()
		s.i++ // :
		child, known := n.elem, n.isMap
		if !known {
			child, known = n.field(key)
		}
		if !known && !n.lenient {
			return []string{keyString(key)}
		}
		if p := s.value(child); p != nil {
			return append([]string{keyString(key)}, p...)
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
		}
	}
}

func (s *keyScanner) list(elem *keyNode) []string {
	s.i++ // [
	for idx := 0; ; idx++ {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] == ']' {
			s.i++
			return nil
		}
		if p := s.value(elem); p != nil {
			return append([]string{strconv.Itoa(idx)}, p...)
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
		}
	}
}

// str moves past the string at s.i and returns it with its quotes.
func (s *keyScanner) str() []byte {
	start := s.i
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return s.b[start:s.i]
		}
	}
	return s.b[start:]
}

// field looks up a quoted key; only keys with escapes need the decoder.
func (n *keyNode) field(quoted []byte) (*keyNode, bool) {
	if bytes.IndexByte(quoted, '\\') < 0 && len(quoted) >= 2 {
		child, ok := n.fields[string(quoted[1:len(quoted)-1])]
		return child, ok
	}
	child, ok := n.fields[keyString(quoted)]
	return child, ok
}

// keyString unquotes a key.
func keyString(quoted []byte) string {
	var k string
	if err := json.Unmarshal(quoted, &k); err != nil {
		return string(quoted)
	}
	return k
}

// skip moves past one value of any kind.
func (s *keyScanner) skip() {
	depth := 0
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			s.str()
			if depth == 0 {
				return
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return // the end of the enclosing value
			}
			depth--
			if depth == 0 {
				s.i++
				return
			}
		case ',':
			if depth == 0 {
				return
			}
		}
		s.i++
	}
}
