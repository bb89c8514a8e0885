// Package capread reads files that come from untrusted sources (a
// downloaded checkpoint's JSON, a template) with a cap on their size, so
// that a file that is far larger than its kind ever is fails with an error
// naming it instead of being read into memory whole.
package capread

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge means a file is larger than the cap for its kind.
var ErrTooLarge = errors.New("file larger than its cap")

// File reads path, refusing it when it holds more than limit bytes. The
// read itself stops at limit+1 bytes, so a file that grows while it is read,
// or a device that never ends, is bounded too. Errors from opening or
// reading are returned as they are (callers name the path); a file over the
// cap gives an error wrapping ErrTooLarge that names it.
func File(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, fmt.Errorf("%s: %w: %d bytes, cap %d", path, ErrTooLarge, st.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, limit)
	}
	return b, nil
}
