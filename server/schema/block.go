package schema

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Blocks: typed, versioned configuration documents. A block type (Secret,
// S3Bucket ...) has schemas, identified by the checksum of their JSON schema
// and a version; a block document is one saved configuration of a type,
// validated client-side against one of its schemas. Documents may point at
// other documents (a field holding {"$ref": {"block_document_id": ...}}),
// and schemas at the schemas of nested blocks (fields.block_schema_references).

// DefaultBlockSchemaVersion is the version of a schema created without one.
const DefaultBlockSchemaVersion = "non-versioned"

// ObfuscatedSecret replaces a secret value the client did not ask to see
// (prefect.utilities.names.obfuscate).
const ObfuscatedSecret = "********"

// BlockType is a kind of block.
type BlockType struct {
	ID               uuid.UUID `json:"id"`
	Created          time.Time `json:"created"`
	Updated          time.Time `json:"updated"`
	Name             string    `json:"name"`
	Slug             string    `json:"slug"`
	LogoURL          *string   `json:"logo_url"`
	DocumentationURL *string   `json:"documentation_url"`
	Description      *string   `json:"description"`
	CodeExample      *string   `json:"code_example"`
	// IsProtected types (Prefect's system blocks) cannot be deleted.
	IsProtected bool `json:"is_protected"`
}

// BlockTypeCreate is the body of POST /block_types/.
type BlockTypeCreate struct {
	Name             string  `json:"name"`
	Slug             string  `json:"slug"`
	LogoURL          *string `json:"logo_url"`
	DocumentationURL *string `json:"documentation_url"`
	Description      *string `json:"description"`
	CodeExample      *string `json:"code_example"`
	// IsProtected is never read from a request; the server sets it for the
	// block types it installs itself.
	IsProtected bool `json:"-"`
}

// Validate checks the body as Prefect's BlockTypeCreate does.
func (c *BlockTypeCreate) Validate() error {
	if err := validateBlockName("name", c.Name); err != nil {
		return err
	}
	if err := validateSlug("slug", c.Slug, "Block type slug"); err != nil {
		return err
	}
	return noNUL(map[string]*string{"logo_url": c.LogoURL, "documentation_url": c.DocumentationURL,
		"description": c.Description, "code_example": c.CodeExample})
}

// BlockTypeUpdate is the body of PATCH /block_types/{id}. A field absent
// from the body is left alone; an explicit null clears it.
type BlockTypeUpdate struct {
	LogoURL          Nullable[string] `json:"logo_url"`
	DocumentationURL Nullable[string] `json:"documentation_url"`
	Description      Nullable[string] `json:"description"`
	CodeExample      Nullable[string] `json:"code_example"`
}

// Validate rejects what the database cannot store.
func (u *BlockTypeUpdate) Validate() error {
	return noNUL(map[string]*string{"logo_url": u.LogoURL.Value, "documentation_url": u.DocumentationURL.Value,
		"description": u.Description.Value, "code_example": u.CodeExample.Value})
}

// Nullable is a field that distinguishes "absent" (Set false) from an
// explicit null (Set true, Value nil), as pydantic's exclude_unset does.
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// KeysOf: a Nullable field has the keys of what it holds.
func (Nullable[T]) KeysOf() reflect.Type { return reflect.TypeFor[T]() }

// UnmarshalJSON records that the field was present.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Value = nil
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

// MarshalJSON writes the value or null.
func (n Nullable[T]) MarshalJSON() ([]byte, error) { return json.Marshal(n.Value) }

// BlockSchema is one version of a block type's JSON schema. Fields is the
// schema as the client sent it, with "block_schema_references" and the
// "definitions" of nested blocks rebuilt from the stored references on read.
type BlockSchema struct {
	ID           uuid.UUID       `json:"id"`
	Created      time.Time       `json:"created"`
	Updated      time.Time       `json:"updated"`
	Checksum     string          `json:"checksum"`
	Fields       json.RawMessage `json:"fields"`
	BlockTypeID  *uuid.UUID      `json:"block_type_id"`
	BlockType    *BlockType      `json:"block_type"`
	Capabilities []string        `json:"capabilities"`
	Version      string          `json:"version"`
}

// BlockSchemaCreate is the body of POST /block_schemas/.
type BlockSchemaCreate struct {
	Fields       json.RawMessage `json:"fields"`
	BlockTypeID  uuid.UUID       `json:"block_type_id"`
	Capabilities []string        `json:"capabilities"`
	Version      string          `json:"version"`
}

// Validate checks the body and fills Prefect's defaults.
func (c *BlockSchemaCreate) Validate() error {
	if c.BlockTypeID == uuid.Nil {
		return Invalid("block_type_id", "Field required")
	}
	if !IsJSONObject(c.Fields) {
		return Invalid("fields", "Input should be a valid dictionary")
	}
	c.Fields = objectOrEmpty(c.Fields)
	if hasNUL(c.Fields) {
		return Invalid("fields", "Input should not contain NUL characters")
	}
	if c.Capabilities == nil {
		c.Capabilities = []string{}
	}
	for _, cap := range c.Capabilities {
		if strings.ContainsRune(cap, 0) {
			return Invalid("capabilities", "Input should not contain NUL characters")
		}
	}
	if c.Version == "" {
		c.Version = DefaultBlockSchemaVersion
	}
	if strings.ContainsRune(c.Version, 0) {
		return Invalid("version", "Input should not contain NUL characters")
	}
	return nil
}

// BlockDocument is a saved block: its data (secrets obfuscated unless asked
// for) with the data of the documents it references merged in under their
// field names, and a record of those references.
type BlockDocument struct {
	ID            uuid.UUID       `json:"id"`
	Created       time.Time       `json:"created"`
	Updated       time.Time       `json:"updated"`
	Name          string          `json:"name"`
	Data          json.RawMessage `json:"data"`
	BlockSchemaID uuid.UUID       `json:"block_schema_id"`
	BlockSchema   *BlockSchema    `json:"block_schema"`
	BlockTypeID   uuid.UUID       `json:"block_type_id"`
	BlockTypeName *string         `json:"block_type_name"`
	BlockType     *BlockType      `json:"block_type"`
	References    map[string]any  `json:"block_document_references"`
	IsAnonymous   bool            `json:"is_anonymous"`
}

// BlockDocumentCreate is the body of POST /block_documents/.
type BlockDocumentCreate struct {
	Name          *string         `json:"name"`
	Data          json.RawMessage `json:"data"`
	BlockSchemaID uuid.UUID       `json:"block_schema_id"`
	BlockTypeID   uuid.UUID       `json:"block_type_id"`
	IsAnonymous   bool            `json:"is_anonymous"`
}

// Validate checks the body as Prefect's BlockDocumentCreate does: a name is
// required unless the document is anonymous (which then gets a generated
// name), and names are lower-case letters, digits and dashes.
func (c *BlockDocumentCreate) Validate() error {
	if !c.IsAnonymous && (c.Name == nil || *c.Name == "") {
		return Invalid("", "Value error, Names must be provided for block documents.")
	}
	if c.Name != nil {
		if err := validateBlockDocumentName("name", *c.Name); err != nil {
			return err
		}
	}
	if c.BlockSchemaID == uuid.Nil {
		return Invalid("block_schema_id", "Field required")
	}
	if c.BlockTypeID == uuid.Nil {
		return Invalid("block_type_id", "Field required")
	}
	if !IsJSONObject(c.Data) {
		return Invalid("data", "Input should be a valid dictionary")
	}
	c.Data = objectOrEmpty(c.Data)
	return nil
}

// BlockDocumentUpdate is the body of PATCH /block_documents/{id}.
type BlockDocumentUpdate struct {
	BlockSchemaID *uuid.UUID      `json:"block_schema_id"`
	Data          json.RawMessage `json:"data"`
	// MergeExistingData (default true) merges Data into the stored data key
	// by key; false replaces it (with {} when Data is absent).
	MergeExistingData *bool `json:"merge_existing_data"`
}

// Validate checks the body and fills Prefect's defaults.
func (u *BlockDocumentUpdate) Validate() error {
	if !IsJSONObject(u.Data) {
		return Invalid("data", "Input should be a valid dictionary")
	}
	if u.MergeExistingData == nil {
		t := true
		u.MergeExistingData = &t
	}
	// Prefect dumps the update with exclude_unset=merge_existing_data: when
	// merging, an absent data field changes nothing; when replacing, it is {}.
	if len(u.Data) == 0 || string(u.Data) == "null" {
		if *u.MergeExistingData {
			u.Data = nil
		} else {
			u.Data = emptyObject
		}
	}
	return nil
}

// Merge reports whether the update merges into the stored data.
func (u BlockDocumentUpdate) Merge() bool { return u.MergeExistingData == nil || *u.MergeExistingData }

// BlockTypeFilter selects block types: name.like_ and slug.any_.
type BlockTypeFilter struct {
	Name *TextFilter `json:"name"`
	Slug *TextFilter `json:"slug"`
}

// BlockSchemaFilter selects block schemas.
type BlockSchemaFilter struct {
	Operator          Operator    `json:"operator"`
	BlockTypeID       *IDFilter   `json:"block_type_id"`
	BlockCapabilities *TagsFilter `json:"block_capabilities"`
	ID                *IDFilter   `json:"id"`
	Version           *TextFilter `json:"version"`
}

// BoolFilter matches a boolean column; a nil Eq matches everything.
type BoolFilter struct {
	Eq *bool `json:"eq_"`
}

// BlockDocumentFilter selects block documents. Like Prefect's, it leaves out
// anonymous documents unless is_anonymous says otherwise: an absent
// is_anonymous means {"eq_": false}, an explicit null means "any".
type BlockDocumentFilter struct {
	Operator    Operator    `json:"operator"`
	ID          *IDFilter   `json:"id"`
	IsAnonymous *BoolFilter `json:"is_anonymous"`
	BlockTypeID *IDFilter   `json:"block_type_id"`
	Name        *TextFilter `json:"name"`
}

// KeysOf: the filter's keys are its fields (UnmarshalJSON only sets a default).
func (BlockDocumentFilter) KeysOf() reflect.Type {
	type plain BlockDocumentFilter
	return reflect.TypeFor[plain]()
}

// NonAnonymous is the is_anonymous criterion Prefect applies by default.
func NonAnonymous() *BoolFilter { f := false; return &BoolFilter{Eq: &f} }

// UnmarshalJSON applies the is_anonymous default.
func (f *BlockDocumentFilter) UnmarshalJSON(b []byte) error {
	type plain BlockDocumentFilter
	var raw struct {
		plain
		IsAnonymous json.RawMessage `json:"is_anonymous"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*f = BlockDocumentFilter(raw.plain)
	switch {
	case raw.IsAnonymous == nil:
		f.IsAnonymous = NonAnonymous()
	case string(raw.IsAnonymous) == "null":
		f.IsAnonymous = nil
	default:
		f.IsAnonymous = &BoolFilter{}
		if err := json.Unmarshal(raw.IsAnonymous, f.IsAnonymous); err != nil {
			return err
		}
	}
	return nil
}

// BlockTypeQuery is the body of POST /block_types/filter.
type BlockTypeQuery struct {
	BlockTypes   *BlockTypeFilter   `json:"block_types"`
	BlockSchemas *BlockSchemaFilter `json:"block_schemas"`
	Page
}

// BlockSchemaQuery is the body of POST /block_schemas/filter.
type BlockSchemaQuery struct {
	BlockSchemas *BlockSchemaFilter `json:"block_schemas"`
	Page
}

// BlockDocumentQuery is the body of POST /block_documents/filter and
// /count. A nil BlockDocuments filter leaves out anonymous documents.
type BlockDocumentQuery struct {
	BlockDocuments *BlockDocumentFilter `json:"block_documents"`
	BlockTypes     *BlockTypeFilter     `json:"block_types"`
	BlockSchemas   *BlockSchemaFilter   `json:"block_schemas"`
	IncludeSecrets bool                 `json:"include_secrets"`
	// Sort is NAME_ASC (the default), NAME_DESC or BLOCK_TYPE_AND_NAME_ASC.
	Sort string `json:"sort"`
	Page
}

// Validate checks the sort, with pydantic's message for an enum.
func (q *BlockDocumentQuery) Validate() error {
	switch q.Sort {
	case "", "NAME_DESC", "NAME_ASC", "BLOCK_TYPE_AND_NAME_ASC":
		return nil
	}
	return Invalid("sort", "Input should be 'NAME_DESC', 'NAME_ASC' or 'BLOCK_TYPE_AND_NAME_ASC'")
}

var (
	bannedNameChars = regexp.MustCompile(`^[^/%&><]+$`)
	lowerDashes     = regexp.MustCompile(`^[a-z0-9-]*$`)
)

// validateBlockName applies Prefect's Name type: at least one character and
// none of / % & > <.
func validateBlockName(loc, name string) error {
	if name == "" {
		return Invalid(loc, "Field required")
	}
	if !bannedNameChars.MatchString(name) {
		return Invalid(loc, "String should match pattern '^[^/%&><]+$'")
	}
	if strings.ContainsRune(name, 0) {
		return Invalid(loc, "Input should not contain NUL characters")
	}
	return nil
}

func validateSlug(loc, slug, what string) error {
	if !lowerDashes.MatchString(slug) {
		return Invalid(loc, "Value error, "+what+" must only contain lowercase letters, numbers, and dashes.")
	}
	return nil
}

// validateBlockDocumentName applies Prefect's BlockDocumentName type.
func validateBlockDocumentName(loc, name string) error {
	if !bannedNameChars.MatchString(name) {
		return Invalid(loc, "String should match pattern '^[^/%&><]+$'")
	}
	return validateSlug(loc, name, "Block document name")
}

// noNUL rejects text the databases cannot store (PostgreSQL refuses NUL).
func noNUL(fields map[string]*string) error {
	for loc, v := range fields {
		if v != nil && strings.ContainsRune(*v, 0) {
			return Invalid(loc, "Input should not contain NUL characters")
		}
	}
	return nil
}

// hasNUL reports whether a JSON document holds a NUL character in a string
// (PostgreSQL's jsonb refuses \u0000).
func hasNUL(raw json.RawMessage) bool {
	if !bytes.Contains(raw, []byte(`\u0000`)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && strings.ContainsRune(s, 0) {
			return true
		}
	}
}

// ResultStorage is the server's default result storage (GET and PUT
// /admin/storage): the block document clients store results in.
type ResultStorage struct {
	BlockDocumentID *uuid.UUID `json:"default_result_storage_block_id"`
}

// Validate requires the block document, as Prefect's update model does.
func (r *ResultStorage) Validate() error {
	if r.BlockDocumentID == nil {
		return Invalid("default_result_storage_block_id", "Field required")
	}
	return nil
}
