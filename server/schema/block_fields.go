package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// The block logic that needs no database: Prefect's schema checksum (which
// the client computes too, so ours must match it byte for byte), the split
// of a schema's fields into what is stored and what becomes references,
// secret obfuscation and the "$ref" fields of block documents.

// DecodeJSONObject decodes a JSON object keeping numbers as json.Number, so
// they are written back exactly as they came.
func DecodeJSONObject(raw []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// BlockSchemaChecksum is Block._calculate_schema_checksum: "sha256:" and the
// hex SHA-256 of Python's json.dumps(((fields,), {}), sort_keys=True), taken
// over the fields without any "secret_fields" key and with "definitions"
// cut down to the non-block definitions the schema references.
func BlockSchemaChecksum(fields map[string]any) (string, error) {
	f, _ := removeNestedKey("secret_fields", fields).(map[string]any)
	if defs := f["definitions"]; truthy(defs) {
		defMap, ok := defs.(map[string]any)
		if !ok {
			return "", Invalid("fields.definitions", "Input should be a valid dictionary")
		}
		if nb := nonBlockDefinitions(f, defMap); len(nb) > 0 {
			f["definitions"] = nb
		} else {
			delete(f, "definitions")
		}
	}
	var b bytes.Buffer
	b.WriteString("[[")
	writePythonJSON(&b, f)
	b.WriteString("], {}]")
	sum := sha256.Sum256(b.Bytes())
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// BlockSchemaReference is one entry of fields.block_schema_references: the
// field Name holds a block whose schema has Checksum and whose type is Slug.
type BlockSchemaReference struct {
	Name     string
	Checksum string
	Slug     string
}

// PreparedBlockSchema is what storing a schema writes, as Prefect's
// models.block_schemas.create_block_schema computes it.
type PreparedBlockSchema struct {
	Checksum string
	// Fields are stored: the client's fields without block_schema_references
	// (kept as rows) and with definitions cut to the non-block ones (those of
	// nested blocks are rebuilt from their own schemas on read).
	Fields map[string]any
	// References are the nested block schemas, by field name.
	References []BlockSchemaReference
	// Definitions are every definition the schema came with (or inherited
	// from the schema that nests it): where nested schemas not yet stored
	// are taken from.
	Definitions map[string]any
}

// PrepareBlockSchema computes the checksum, stored fields and references of
// a schema. inherited are the definitions of the schema this one is nested
// in (nil for a schema the client posted).
func PrepareBlockSchema(fields map[string]any, inherited map[string]any) (PreparedBlockSchema, error) {
	fields = deepCopy(fields).(map[string]any)
	var p PreparedBlockSchema
	definitions := inherited
	if len(definitions) == 0 {
		if own := fields["definitions"]; truthy(own) {
			m, ok := own.(map[string]any)
			if !ok {
				return p, Invalid("fields.definitions", "Input should be a valid dictionary")
			}
			definitions = m
		}
	}
	if len(definitions) > 0 {
		fields["definitions"] = definitions
	}
	sum, err := BlockSchemaChecksum(fields)
	if err != nil {
		return p, err
	}
	p.Checksum = sum
	if len(definitions) > 0 {
		if nb := nonBlockDefinitions(fields, definitions); len(nb) > 0 {
			fields["definitions"] = nb
		} else {
			delete(fields, "definitions")
		}
	}
	refs, err := parseSchemaReferences(fields["block_schema_references"])
	if err != nil {
		return p, err
	}
	delete(fields, "block_schema_references")
	p.Fields, p.References = fields, refs
	if len(definitions) > 0 {
		p.Definitions = definitions
	}
	return p, nil
}

func parseSchemaReferences(v any) ([]BlockSchemaReference, error) {
	const loc = "fields.block_schema_references"
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, Invalid(loc, "Input should be a valid dictionary")
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []BlockSchemaReference
	for _, name := range names {
		entries, isList := m[name].([]any)
		if !isList {
			entries = []any{m[name]}
		}
		for _, e := range entries {
			em, ok := e.(map[string]any)
			checksum, ok1 := em["block_schema_checksum"].(string)
			slug, ok2 := em["block_type_slug"].(string)
			if !ok || !ok1 || !ok2 {
				return nil, Invalid(loc+"."+name, "Each block schema reference needs a block_schema_checksum and a block_type_slug")
			}
			out = append(out, BlockSchemaReference{Name: name, Checksum: checksum, Slug: slug})
		}
	}
	return out, nil
}

// ChildSchemaFields finds, in definitions, the schema of the block that the
// field name of base holds, for a block type with slug (Prefect's
// _get_fields_for_child_schema). It returns a copy, or nil when there is none.
func ChildSchemaFields(definitions, base map[string]any, name, slug string) (map[string]any, error) {
	props, _ := base["properties"].(map[string]any)
	spec, ok := props[name]
	if !ok {
		return nil, Invalid("fields.properties", "No property "+strconv.Quote(name)+" for the block schema reference of that name")
	}
	refs := collectRefs(spec)
	var found any
	if len(refs) == 1 {
		s, ok := refs[0].(string)
		if !ok {
			return nil, Invalid("fields.properties."+name, "$ref should be a string")
		}
		found = definitions[strings.ReplaceAll(s, "#/definitions/", "")]
	} else {
		for _, r := range refs {
			s, ok := r.(string)
			if !ok {
				continue
			}
			def, _ := definitions[strings.ReplaceAll(s, "#/definitions/", "")].(map[string]any)
			if def != nil && def["block_type_slug"] == slug {
				found = def
				break
			}
		}
	}
	m, ok := found.(map[string]any)
	if !ok {
		return nil, nil
	}
	return deepCopy(m).(map[string]any), nil
}

// collectRefs is _collect_nested_reference_strings: every truthy "$ref"
// value in obj, depth first, keys in sorted order.
func collectRefs(obj any) []any {
	var out []any
	switch v := obj.(type) {
	case map[string]any:
		if ref, ok := v["$ref"]; ok && truthy(ref) {
			out = append(out, ref)
		}
		for _, k := range sortedKeys(v) {
			out = append(out, collectRefs(v[k])...)
		}
	case []any:
		for _, item := range v {
			out = append(out, collectRefs(item)...)
		}
	}
	return out
}

// nonBlockDefinitions is _get_non_block_reference_definitions: the
// definitions reachable by "$ref" from obj that are not blocks (have no
// block_type_slug). Empty definitions ({}) are falsy in Python and left out.
func nonBlockDefinitions(obj any, definitions map[string]any) map[string]any {
	out := map[string]any{}
	var walk func(obj any)
	walk = func(obj any) {
		for _, ref := range collectRefs(obj) {
			s, ok := ref.(string)
			if !ok {
				continue
			}
			key := strings.ReplaceAll(s, "#/definitions/", "")
			def, ok := definitions[key].(map[string]any)
			if !ok || len(def) == 0 || def["block_type_slug"] != nil {
				continue
			}
			if _, seen := out[key]; seen {
				continue // already walked: also what ends a cycle
			}
			out[key] = def
			walk(def)
		}
	}
	walk(obj)
	return out
}

// removeNestedKey is remove_nested_keys([key], obj): a copy of obj without
// key in any nested object. Like Prefect's, it does not look inside lists.
func removeNestedKey(key string, obj any) any {
	m, ok := obj.(map[string]any)
	if !ok {
		return obj
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = removeNestedKey(key, v)
		}
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// truthy is Python's bool() of a decoded JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// writePythonJSON writes v as Python's json.dumps(v, sort_keys=True) does:
// ", " and ": " separators, non-ASCII escaped as \uXXXX, floats in repr form.
func writePythonJSON(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		b.WriteString(pythonNumber(string(x)))
	case float64:
		b.WriteString(pythonFloat(x))
	case string:
		writePythonString(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePythonJSON(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteString(", ")
			}
			writePythonString(b, k)
			b.WriteString(": ")
			writePythonJSON(b, x[k])
		}
		b.WriteByte('}')
	default:
		panic(fmt.Sprintf("writePythonJSON: unexpected %T", v))
	}
}

// pythonNumber writes a JSON number literal as Python reads and dumps it:
// integers exactly (Python's are unbounded), anything else as a float.
func pythonNumber(lit string) string {
	if !strings.ContainsAny(lit, ".eE") {
		if strings.TrimLeft(lit, "-0") == "" {
			return "0"
		}
		return lit
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !math.IsInf(f, 0) {
		return lit
	}
	return pythonFloat(f)
}

// pythonFloat is float.__repr__ as json.dumps writes it.
func pythonFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest round-trip digits and the decimal exponent of the first one.
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expStr, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		out := digits[:1]
		if len(digits) > 1 {
			out += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es, exp = "-", -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, out, es, exp)
	}
	if exp < 0 {
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	if len(digits) <= exp+1 {
		return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + digits[:exp+1] + "." + digits[exp+1:]
}

func writePythonString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
}

// SecretFields reads a schema's "secret_fields": dotted paths into the
// document data, where "*" matches any key.
func SecretFields(fields map[string]any) []string {
	list, _ := fields["secret_fields"].([]any)
	out := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// flatEntry is one leaf of a flattened document: dict_to_flatdict descends
// into non-empty objects only, so leaves are scalars, lists and {}.
type flatEntry struct {
	path  []string
	value any
}

type flatDict struct {
	entries []flatEntry
	index   map[string]int
}

func pathKey(path []string) string {
	var b strings.Builder
	for _, p := range path {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

func flatten(data map[string]any) *flatDict {
	f := &flatDict{index: map[string]int{}}
	var walk func(m map[string]any, parent []string)
	walk = func(m map[string]any, parent []string) {
		for _, k := range sortedKeys(m) {
			path := append(slices.Clone(parent), k)
			if sub, ok := m[k].(map[string]any); ok && len(sub) > 0 {
				walk(sub, path)
				continue
			}
			f.index[pathKey(path)] = len(f.entries)
			f.entries = append(f.entries, flatEntry{path, m[k]})
		}
	}
	walk(data, nil)
	return f
}

func (f *flatDict) get(path []string) (any, bool) {
	i, ok := f.index[pathKey(path)]
	if !ok {
		return nil, false
	}
	return f.entries[i].value, true
}

func (f *flatDict) set(path []string, v any) { f.entries[f.index[pathKey(path)]].value = v }

func (f *flatDict) unflatten() map[string]any {
	out := map[string]any{}
	for _, e := range f.entries {
		cur := out
		for _, p := range e.path[:len(e.path)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[e.path[len(e.path)-1]] = e.value
	}
	return out
}

// underWildcard reports whether a leaf path lies under the part of a secret
// path before its first "*".
func underWildcard(leaf, secret []string) (bool, bool) {
	wi := slices.Index(secret, "*")
	if wi < 0 {
		return false, false
	}
	return len(leaf) >= wi && slices.Equal(leaf[:wi], secret[:wi]), true
}

// ObfuscateSecrets is what BlockDocument.from_orm_model does without
// include_secrets: the value at each secret path, when not null, and every
// leaf under a wildcard path, becomes "********".
func ObfuscateSecrets(data map[string]any, secretFields []string) map[string]any {
	if len(secretFields) == 0 {
		return data
	}
	flat := flatten(data)
	for _, sf := range secretFields {
		key := strings.Split(sf, ".")
		if v, ok := flat.get(key); ok && v != nil {
			flat.set(key, ObfuscatedSecret)
			continue
		}
		for i := range flat.entries {
			if under, wild := underWildcard(flat.entries[i].path, key); !wild {
				break
			} else if under {
				flat.entries[i].value = ObfuscatedSecret
			}
		}
	}
	return flat.unflatten()
}

// RestoreSecrets is the guard of Prefect's update_block_document: a secret
// posted back in its obfuscated form ("********", as the client read it)
// keeps its stored value instead of being overwritten.
func RestoreSecrets(update, current map[string]any, secretFields []string) map[string]any {
	if len(secretFields) == 0 {
		return update
	}
	fu, fc := flatten(update), flatten(current)
	for _, sf := range secretFields {
		key := strings.Split(sf, ".")
		if cur, ok := fc.get(key); ok && cur != nil {
			if v, ok := fu.get(key); ok && v == ObfuscatedSecret {
				fu.set(key, cur)
			}
			continue
		}
		for i := range fu.entries {
			e := &fu.entries[i]
			under, wild := underWildcard(e.path, key)
			if !wild {
				break
			}
			if under && e.value == ObfuscatedSecret {
				if cur, ok := fc.get(e.path); ok {
					e.value = cur
				}
			}
		}
	}
	return fu.unflatten()
}

// BlockDocumentRef is a field of a document's data that points at another
// document: {"$ref": {"block_document_id": ...}}.
type BlockDocumentRef struct {
	Name       string
	DocumentID uuid.UUID
}

// SplitBlockReferences separates the reference fields of a document's data
// (top-level objects holding "$ref") from the rest, as Prefect's
// _separate_block_references_from_data does.
func SplitBlockReferences(data map[string]any) (map[string]any, []BlockDocumentRef, error) {
	plain := make(map[string]any, len(data))
	var refs []BlockDocumentRef
	for _, k := range sortedKeys(data) {
		v := data[k]
		obj, ok := v.(map[string]any)
		if !ok {
			plain[k] = v
			continue
		}
		ref, has := obj["$ref"]
		if !has {
			plain[k] = v
			continue
		}
		refObj, _ := ref.(map[string]any)
		raw, present := refObj["block_document_id"]
		if !present || raw == nil {
			return nil, nil, &BadRequestError{Msg: "Received block reference without a block_document_id in key " + k}
		}
		s, _ := raw.(string)
		id, err := uuid.Parse(s)
		if err != nil {
			return nil, nil, &BadRequestError{Msg: "Received block reference with an invalid block_document_id in key " + k}
		}
		refs = append(refs, BlockDocumentRef{Name: k, DocumentID: id})
	}
	return plain, refs, nil
}
