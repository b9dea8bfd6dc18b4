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
//
// The same shapes locate a value that does not decode (DecodeErrorPath).

// Lenient is a struct whose unknown keys are ignored, as Prefect's
// PrefectBaseModel does (state_details, empirical_policy, ...).
type Lenient interface{ IgnoresUnknownKeys() }

// Embedded is a request body that FastAPI builds from several Body(...)
// parameters: it ignores unknown top-level keys (their own objects still
// forbid theirs), and a null or absent body means every parameter's default.
// Every other body is a single model or list that the request must send.
type Embedded interface{ EmbeddedBody() }

// Shaped is a type with its own UnmarshalJSON whose keys, and the types they
// decode into, are the json fields of KeysOf (a wrapper names the type it
// wraps; a struct that decodes through another struct names that one).
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

// DecodeErrorPath returns the path to the innermost value of data that does
// not decode into its place in *dst: where pydantic would report the error.
// It is empty when no part of data fails on its own (the top-level value is
// the wrong kind, or its parts only fail together). data must be valid JSON.
//
// encoding/json's own path (UnmarshalTypeError.Field) stops at the nearest
// type with an UnmarshalJSON method, and on json/v2 (GOEXPERIMENT=jsonv2)
// does not cross one at all; this walk decodes the value piece by piece,
// through the types that name their shape (Shaped), so the path is the same
// on either.
func DecodeErrorPath(dst any, data []byte) []string {
	t := reflect.TypeOf(dst).Elem()
	return failing(shapeOf(t), bytes.TrimSpace(data))
}

// failing returns the path to the first child of the value v (which does
// not decode) that does not decode either, followed down; empty when no
// child fails.
func failing(n *keyNode, v []byte) []string {
	if n == nil || len(v) == 0 {
		return []string{}
	}
	s := keyScanner{b: v}
	switch {
	case v[0] == '[' && n.isList:
		s.i++ // [
		for idx := 0; ; idx++ {
			elem, ok := s.next()
			if !ok {
				return []string{}
			}
			if !decodes(elem, n.elemType) {
				return append([]string{strconv.Itoa(idx)}, failing(n.elem, elem)...)
			}
		}
	case v[0] == '{' && n.isList: // one element for a list (OneOrMany)
		return failing(n.elem, v)
	case v[0] == '{':
		s.i++ // {
		for {
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				return []string{}
			}
			key := s.str()
			s.ws()
			s.i++ // :
			val, _ := s.next()
			child, t := n.elem, n.elemType
			if !n.isMap {
				name := keyString(key)
				child, t = n.fields[name], n.types[name]
			}
			if t != nil && !decodes(val, t) {
				return append([]string{keyString(key)}, failing(child, val)...)
			}
		}
	}
	return []string{}
}

func decodes(v []byte, t reflect.Type) bool {
	return json.Unmarshal(v, reflect.New(t).Interface()) == nil
}

// next returns the value at s.i and moves past it and its comma; ok is false
// at the end of the enclosing list or object.
func (s *keyScanner) next() (v []byte, ok bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] == ']' || s.b[s.i] == '}' {
		return nil, false
	}
	start := s.i
	s.skip()
	v = bytes.TrimSpace(s.b[start:s.i])
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ',' {
		s.i++
	}
	return v, true
}

// keyNode is what a type accepts: an object with fixed fields (fields set,
// each decoding into its Go type in types), a map or list whose values are
// elem (decoding into elemType), or nil for anything free-form.
type keyNode struct {
	fields   map[string]*keyNode
	types    map[string]reflect.Type
	lenient  bool
	isMap    bool
	isList   bool
	elem     *keyNode
	elemType reflect.Type
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
		return &keyNode{isList: true, elem: buildShape(t.Elem(), building), elemType: t.Elem()}
	case reflect.Map:
		return &keyNode{isMap: true, elem: buildShape(t.Elem(), building), elemType: t.Elem()}
	case reflect.Struct:
		n := &keyNode{
			fields:  map[string]*keyNode{},
			types:   map[string]reflect.Type{},
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
		n.types[name] = f.Type
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
