// Package schema holds Prefect's wire types: the JSON bodies the Prefect 3
// client sends and expects. They double as the server's domain types, so a
// value read from the store goes to the client without a translation layer.
//
// Decoding is lenient (unknown fields are ignored) because newer clients send
// newer fields; encoding always writes every field, null when unset, as
// Prefect's response models do.
package schema
