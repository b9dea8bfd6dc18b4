package events

import (
	"encoding/json"
	"slices"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// Block lifecycle events: prefect.block-type.{created,updated,deleted} and
// prefect.block-document.{created,updated,deleted}, as Prefect 3.9 emits
// them.

// BlockTypeChanged is the event of a block type created, updated or deleted
// (action), carrying its identity, presentation and protection.
func BlockTypeChanged(action string, bt schema.BlockType, occurred time.Time) schema.Event {
	payload := map[string]any{
		"name": bt.Name, "slug": bt.Slug, "logo_url": bt.LogoURL, "documentation_url": bt.DocumentationURL,
		"description": bt.Description, "code_example": bt.CodeExample, "is_protected": bt.IsProtected,
	}
	return lifecycleEvent("block-type", action, "prefect.block-type."+bt.ID.String(), bt.Name, payload, occurred, nil)
}

// BlockDocumentChanged is the event of a block document created, updated or
// deleted (action). Its payload holds the document's name, the string values
// of its data that are not secret fields, and its schema's capabilities and
// block type. Prefect emits none for anonymous documents; neither should the
// caller.
func BlockDocumentChanged(action string, doc schema.BlockDocument, occurred time.Time) schema.Event {
	var secret []string
	var blockSchema any
	if doc.BlockSchema != nil {
		fields, _ := schema.DecodeJSONObject(doc.BlockSchema.Fields)
		secret = schema.SecretFields(fields)
		typeName := ""
		if doc.BlockTypeName != nil {
			typeName = *doc.BlockTypeName
		}
		blockSchema = map[string]any{
			"capabilities": doc.BlockSchema.Capabilities,
			"block_type":   map[string]any{"id": doc.BlockTypeID, "name": typeName},
		}
	}
	data := map[string]string{}
	var values map[string]any
	_ = json.Unmarshal(doc.Data, &values)
	for k, v := range values {
		if s, ok := v.(string); ok && !slices.Contains(secret, k) {
			data[k] = s
		}
	}
	typeRes := schema.Resource{"prefect.resource.id": "prefect.block-type." + doc.BlockTypeID.String(), "prefect.resource.role": "block-type"}
	if doc.BlockTypeName != nil && *doc.BlockTypeName != "" {
		typeRes["prefect.resource.name"] = *doc.BlockTypeName
	}
	related := []schema.Resource{typeRes,
		{"prefect.resource.id": "prefect.block-schema." + doc.BlockSchemaID.String(), "prefect.resource.role": "block-schema"}}
	payload := map[string]any{"name": doc.Name, "data": data, "block_schema": blockSchema}
	return lifecycleEvent("block-document", action, "prefect.block-document."+doc.ID.String(), doc.Name, payload, occurred, related)
}
