package sqlstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// Block document data is encrypted at rest with AES-256-GCM, each document
// under its own random nonce with its id as additional data (so a
// ciphertext copied onto another row does not decrypt). The stored text is
// "v1:" and the URL-safe base64 of nonce and ciphertext.
//
// The key, as in Prefect (server/utilities/encryption.py), is
// PREFECT_SERVER_ENCRYPTION_KEY (or the deprecated ORION_ENCRYPTION_KEY) when
// set, else the value {"fernet_key": ...} of the configuration row
// ENCRYPTION_KEY, which the first use creates. Keys are 32 random bytes in
// URL-safe base64, the format of Fernet.generate_key(), so a key copied from
// either place works in the other; a variable that is not such a key is
// hashed with SHA-256 into one.

const (
	encryptionKeyEnv = "PREFECT_SERVER_ENCRYPTION_KEY"
	encryptionKeyRow = "ENCRYPTION_KEY"
	ciphertextPrefix = "v1:"
)

// blockCrypt caches the AEAD built from the key.
type blockCrypt struct {
	mu   sync.Mutex
	aead cipher.AEAD
	// configured is PREFECT_SERVER_ENCRYPTION_KEY as the settings read it
	// (Options.EncryptionKey or SetEncryptionKey); empty means the key stored
	// in the configuration row.
	configured string
}

// SetEncryptionKey sets the block document key as configured
// (PREFECT_SERVER_ENCRYPTION_KEY); an empty key means the configuration
// row's. Call it before serving.
func (s *Store) SetEncryptionKey(key string) {
	s.crypt.mu.Lock()
	defer s.crypt.mu.Unlock()
	s.crypt.configured = key
	s.crypt.aead = nil
}

// blockCipher returns the AEAD, loading (and on first use creating) the key
// in a transaction of its own. Call it before opening a write transaction:
// on SQLite a nested one would wait for the single writer connection, and a
// key created inside a transaction that rolls back must not be cached.
func (s *Store) blockCipher(ctx context.Context) (cipher.AEAD, error) {
	s.crypt.mu.Lock()
	defer s.crypt.mu.Unlock()
	if s.crypt.aead != nil {
		return s.crypt.aead, nil
	}
	key, err := s.loadEncryptionKey(ctx)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s.crypt.aead = aead
	return aead, nil
}

func (s *Store) loadEncryptionKey(ctx context.Context) ([]byte, error) {
	if s.crypt.configured != "" {
		return parseEncryptionKey(s.crypt.configured), nil
	}
	var stored string
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return err
		}
		value := mustJSON(map[string]string{"fernet_key": base64.URLEncoding.EncodeToString(fresh)})
		now := s.clock()
		if _, err := c.exec(ctx, `INSERT INTO configuration (id, created, updated, key, value) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key) DO NOTHING`, uuid.Must(uuid.NewV7()), now, now, encryptionKeyRow, value); err != nil {
			return err
		}
		var raw json.RawMessage
		if err := classify(c.queryRow(ctx, `SELECT value FROM configuration WHERE key = ?`, encryptionKeyRow).Scan(jsonCol{&raw})); err != nil {
			return err
		}
		var v struct {
			FernetKey string `json:"fernet_key"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || v.FernetKey == "" {
			return errors.New("the configuration row ENCRYPTION_KEY holds no fernet_key")
		}
		stored = v.FernetKey
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading the block encryption key: %w", err)
	}
	return parseEncryptionKey(stored), nil
}

// parseEncryptionKey turns a key as configured into 32 bytes.
func parseEncryptionKey(s string) []byte {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.StdEncoding, base64.RawURLEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b
		}
	}
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// sealBlockData encrypts the JSON of a document's data for the row id.
func sealBlockData(aead cipher.AEAD, id uuid.UUID, plaintext []byte) (string, error) {
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := aead.Seal(nonce, nonce, plaintext, id[:])
	return ciphertextPrefix + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openBlockData decrypts what sealBlockData wrote for the row id.
func openBlockData(aead cipher.AEAD, id uuid.UUID, stored string) ([]byte, error) {
	rest, ok := strings.CutPrefix(stored, ciphertextPrefix)
	if !ok {
		return nil, fmt.Errorf("block document %s: data is not in a known encrypted format", id)
	}
	sealed, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("block document %s: malformed encrypted data", id)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], id[:])
	if err != nil {
		return nil, fmt.Errorf("block document %s: cannot decrypt its data (was %s changed?): %w", id, encryptionKeyEnv, err)
	}
	return plain, nil
}
