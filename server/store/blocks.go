package store

import (
	"context"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Blocks keeps block types, their schemas and block documents, as Prefect's
// block_type, block_schema (+ block_schema_reference) and block_document
// (+ block_document_reference) tables do.
//
// Document data is encrypted at rest with AES-256-GCM. The key is
// PREFECT_SERVER_ENCRYPTION_KEY when set (32 bytes, URL-safe base64, the
// format of a Fernet key as Python Prefect generates one; any other string
// is hashed to a key with SHA-256), otherwise the "ENCRYPTION_KEY" row of the
// configuration table, created with a random key on first use, as Prefect
// does. Losing the key loses every document's data.
//
// Reads of documents return their data with the data of referenced
// documents merged in, and secret fields (the schema's "secret_fields")
// replaced by "********" unless includeSecrets is set.
type Blocks interface {
	// CreateBlockType stores a new type; a taken slug is a ConflictError.
	CreateBlockType(ctx context.Context, t schema.BlockTypeCreate) (schema.BlockType, error)
	// RegisterBlockType stores a type of Prefect's block catalogue by its
	// slug, as Prefect's block registration does: a new slug is created; a
	// stored one takes t's logo URL, documentation URL, description and code
	// example and, when t.IsProtected (Prefect's system blocks, which it
	// upserts whole), t's name and the protection too. Nothing is written
	// when nothing differs. change says what was done: "created", "updated"
	// or "". Concurrent calls for one slug (replicas starting together) wait
	// for each other instead of conflicting.
	RegisterBlockType(ctx context.Context, t schema.BlockTypeCreate) (bt schema.BlockType, change string, err error)
	ReadBlockType(ctx context.Context, id uuid.UUID) (schema.BlockType, error)
	ReadBlockTypeBySlug(ctx context.Context, slug string) (schema.BlockType, error)
	// FilterBlockTypes returns types ordered by name.
	FilterBlockTypes(ctx context.Context, q schema.BlockTypeQuery) ([]schema.BlockType, error)
	// UpdateBlockType applies u and says whether anything was written: like
	// Prefect, nothing is when u sets every field to what is stored.
	UpdateBlockType(ctx context.Context, id uuid.UUID, u schema.BlockTypeUpdate) (changed bool, err error)
	// DeleteBlockType deletes a type with its schemas and documents; a
	// protected type is a ForbiddenError.
	DeleteBlockType(ctx context.Context, id uuid.UUID) error

	// CreateBlockSchema stores a schema with the nested schemas its
	// block_schema_references name (taken from its definitions when not yet
	// stored), or returns the schema with the same checksum and version with
	// created=false. A missing type is ErrNotFound; a nested block type that
	// is not registered is a ConflictError.
	CreateBlockSchema(ctx context.Context, s schema.BlockSchemaCreate) (stored schema.BlockSchema, created bool, err error)
	ReadBlockSchema(ctx context.Context, id uuid.UUID) (schema.BlockSchema, error)
	// ReadBlockSchemaByChecksum returns the newest schema with the checksum
	// (and version, when given).
	ReadBlockSchemaByChecksum(ctx context.Context, checksum string, version *string) (schema.BlockSchema, error)
	// FilterBlockSchemas returns schemas, newest first.
	FilterBlockSchemas(ctx context.Context, q schema.BlockSchemaQuery) ([]schema.BlockSchema, error)
	// DeleteBlockSchema deletes a schema and the documents using it; a schema
	// of a protected type is a ForbiddenError.
	DeleteBlockSchema(ctx context.Context, id uuid.UUID) error
	// ReadBlockCapabilities lists every capability of any schema, sorted.
	ReadBlockCapabilities(ctx context.Context) ([]string, error)

	// CreateBlockDocument stores a document and its references; an anonymous
	// document without a name gets "anonymous-<uuid>". A taken (type, name)
	// is a ConflictError, a missing type ErrNotFound, a malformed or cyclic
	// reference a BadRequestError. It returns the document as read without
	// secrets.
	CreateBlockDocument(ctx context.Context, d schema.BlockDocumentCreate) (schema.BlockDocument, error)
	ReadBlockDocument(ctx context.Context, id uuid.UUID, includeSecrets bool) (schema.BlockDocument, error)
	// ReadBlockDocumentByName finds a document, anonymous or not, by its
	// type's slug and its name.
	ReadBlockDocumentByName(ctx context.Context, typeSlug, name string, includeSecrets bool) (schema.BlockDocument, error)
	FilterBlockDocuments(ctx context.Context, q schema.BlockDocumentQuery) ([]schema.BlockDocument, error)
	CountBlockDocuments(ctx context.Context, q schema.BlockDocumentQuery) (int, error)
	// UpdateBlockDocument replaces or merges the data (secrets posted back
	// obfuscated keep their stored value), rewrites the references and may
	// move the document to another schema of its type (else a BadRequestError).
	UpdateBlockDocument(ctx context.Context, id uuid.UUID, u schema.BlockDocumentUpdate) error
	// DeleteBlockDocument deletes the document and, when it was the
	// default result storage, unsets that.
	DeleteBlockDocument(ctx context.Context, id uuid.UUID) error

	// DefaultResultStorage is the block document clients keep results in
	// by default (nil: none; they keep them locally).
	DefaultResultStorage(ctx context.Context) (*uuid.UUID, error)
	// SetDefaultResultStorage sets it: ErrNotFound for an unknown document,
	// a BadRequestError when its schema lacks the write-path capability.
	SetDefaultResultStorage(ctx context.Context, blockDocumentID uuid.UUID) error
	ClearDefaultResultStorage(ctx context.Context) error
}
