package pgfanout

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// Large bodies are cut under NOTIFY's 8000-byte limit, never inside a UTF-8
// character, and reassembled in any order.
func TestEncodeDecodeChunks(t *testing.T) {
	body := []byte(`{"blob":"` + strings.Repeat("é€x", 5000) + `"}`)
	payloads := encode("origin1", "msg1", body)
	require.Greater(t, len(payloads), 1)
	var a assembler
	var out []byte
	now := time.Now()
	for i := len(payloads) - 1; i >= 0; i-- { // reversed
		require.Less(t, len(payloads[i]), 8000)
		require.True(t, utf8.ValidString(payloads[i]))
		p, err := decode(payloads[i])
		require.NoError(t, err)
		require.Equal(t, "origin1", p.origin)
		b, ok := a.add(p, now)
		if i > 0 {
			require.False(t, ok)
		} else {
			require.True(t, ok)
			out = b
		}
	}
	require.Equal(t, string(body), string(out))
	require.Empty(t, a.pending)

	small := encode("o", "m", []byte(`{"a":"x|y"}`))
	require.Len(t, small, 1)
	p, err := decode(small[0])
	require.NoError(t, err)
	b, ok := a.add(p, now)
	require.True(t, ok)
	require.Equal(t, `{"a":"x|y"}`, string(b))

	_, err = decode("hello")
	require.Error(t, err)
}
