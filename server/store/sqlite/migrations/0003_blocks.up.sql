-- Blocks: types, their schemas (with references to the schemas of nested
-- blocks), documents (with references to nested documents), and the
-- configuration table that holds the document encryption key.
-- block_document.data is the AES-GCM-encrypted JSON of the document's data
-- (without its references), as text.

CREATE TABLE block_type (
    id                TEXT PRIMARY KEY,
    created           TEXT NOT NULL,
    updated           TEXT NOT NULL,
    name              TEXT NOT NULL,
    slug              TEXT NOT NULL,
    logo_url          TEXT,
    documentation_url TEXT,
    description       TEXT,
    code_example      TEXT,
    is_protected      INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX uq_block_type__slug ON block_type (slug);
CREATE INDEX ix_block_type__name ON block_type (name);

CREATE TABLE block_schema (
    id            TEXT PRIMARY KEY,
    created       TEXT NOT NULL,
    updated       TEXT NOT NULL,
    checksum      TEXT NOT NULL,
    fields        TEXT NOT NULL DEFAULT '{}',
    capabilities  TEXT NOT NULL DEFAULT '[]',
    version       TEXT NOT NULL DEFAULT 'non-versioned',
    block_type_id TEXT NOT NULL REFERENCES block_type (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX uq_block_schema__checksum_version ON block_schema (checksum, version);
CREATE INDEX ix_block_schema__block_type_id ON block_schema (block_type_id);
CREATE INDEX ix_block_schema__created ON block_schema (created);

CREATE TABLE block_schema_reference (
    id                        TEXT PRIMARY KEY,
    created                   TEXT NOT NULL,
    updated                   TEXT NOT NULL,
    name                      TEXT NOT NULL,
    parent_block_schema_id    TEXT NOT NULL REFERENCES block_schema (id) ON DELETE CASCADE,
    reference_block_schema_id TEXT NOT NULL REFERENCES block_schema (id) ON DELETE CASCADE
);
CREATE INDEX ix_block_schema_reference__parent ON block_schema_reference (parent_block_schema_id);
CREATE INDEX ix_block_schema_reference__reference ON block_schema_reference (reference_block_schema_id);

CREATE TABLE block_document (
    id              TEXT PRIMARY KEY,
    created         TEXT NOT NULL,
    updated         TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            TEXT NOT NULL,
    is_anonymous    INTEGER NOT NULL DEFAULT 0,
    block_type_name TEXT,
    block_type_id   TEXT NOT NULL REFERENCES block_type (id) ON DELETE CASCADE,
    block_schema_id TEXT NOT NULL REFERENCES block_schema (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX uq_block__type_id_name ON block_document (block_type_id, name);
CREATE INDEX ix_block_document__name ON block_document (name);
CREATE INDEX ix_block_document__is_anonymous ON block_document (is_anonymous);
CREATE INDEX ix_block_document__block_type_name__name ON block_document (block_type_name, name);
CREATE INDEX ix_block_document__block_schema_id ON block_document (block_schema_id);

CREATE TABLE block_document_reference (
    id                          TEXT PRIMARY KEY,
    created                     TEXT NOT NULL,
    updated                     TEXT NOT NULL,
    name                        TEXT NOT NULL,
    parent_block_document_id    TEXT NOT NULL REFERENCES block_document (id) ON DELETE CASCADE,
    reference_block_document_id TEXT NOT NULL REFERENCES block_document (id) ON DELETE CASCADE,
    CONSTRAINT ck_block_document_reference__no_self_reference CHECK (parent_block_document_id <> reference_block_document_id)
);
CREATE INDEX ix_block_document_reference__parent ON block_document_reference (parent_block_document_id);
CREATE INDEX ix_block_document_reference__reference ON block_document_reference (reference_block_document_id);

-- Prefect's key/value table (ENCRYPTION_KEY, and the server's default result
-- storage). IF NOT EXISTS: other features may need it too.
CREATE TABLE IF NOT EXISTS configuration (
    id      TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    key     TEXT NOT NULL UNIQUE,
    value   TEXT NOT NULL
);
