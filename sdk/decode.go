package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DecodeResponse decodes a plugin's JSON output into v (a pointer to a
// response type). Unknown fields are ignored so that a plugin built for a
// newer minor version still decodes. Output that is not valid JSON fails with
// ErrInvalidResponse, except that a bare NaN or Infinity where a number
// belongs (what C, WAT or JavaScript plugins print for a non-finite float)
// fails with ErrInvalidScore, the more useful diagnosis.
func DecodeResponse(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		if hasNonFiniteLiteral(data) {
			return fmt.Errorf("%w: output has a NaN or infinite number: %s", ErrInvalidScore, clip(data))
		}
		return fmt.Errorf("%w: %v: %s", ErrInvalidResponse, err, clip(data))
	}
	return nil
}

// hasNonFiniteLiteral reports whether data has NaN, Infinity or inf outside
// any string.
func hasNonFiniteLiteral(data []byte) bool {
	inStr, esc := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == 'N' || c == 'I' || c == 'i' || c == 'n'):
			rest := data[i:]
			for _, lit := range [][]byte{[]byte("NaN"), []byte("nan"), []byte("Infinity"), []byte("inf"), []byte("Inf")} {
				if bytes.HasPrefix(rest, lit) {
					return true
				}
			}
		}
	}
	return false
}

// clip shortens plugin output quoted in an error message.
func clip(b []byte) string {
	const max = 120
	if len(b) > max {
		return fmt.Sprintf("%q... (%d bytes)", b[:max], len(b))
	}
	return fmt.Sprintf("%q", b)
}
