package builders

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// Inputs are what the builders need beyond the PrefectServer.
type Inputs struct {
	// DefaultImage is the operator's own image, used when spec.image is empty.
	DefaultImage string
	// SecretData maps "secretName/key" to the value of every Secret key the
	// spec references (see ReferencedSecrets); it feeds ConfigHash only, so
	// editing a Secret rolls the pods. No value ever lands in an object.
	SecretData map[string][]byte
}

// ConfigHash identifies the rendered configuration: ServerEnv, the image and
// the referenced Secret data. It is the first 16 hex digits of a SHA-256.
func ConfigHash(ps *v1alpha1.PrefectServer, in Inputs) string {
	h := sha256.New()
	write := func(b []byte) { // length-prefixed, so fields cannot run together
		_ = binary.Write(h, binary.BigEndian, uint64(len(b)))
		h.Write(b)
	}
	env, err := json.Marshal(ServerEnv(ps))
	if err != nil {
		panic("builders: encoding the environment: " + err.Error())
	}
	write(env)
	write([]byte(image(ps, in)))
	for _, k := range slices.Sorted(maps.Keys(in.SecretData)) {
		write([]byte(k))
		write(in.SecretData[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
