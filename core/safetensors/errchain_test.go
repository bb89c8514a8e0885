package safetensors

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestErrorChains checks that a loader error keeps both the package's sentinel
// and the cause beneath it, so that errors.Is and errors.As see through it.
func TestErrorChains(t *testing.T) {
	write := func(t *testing.T, path string, b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		setup    func(t *testing.T, dir string) // fills dir
		open     func(dir string) error
		sentinel error
		cause    error // checked with errors.Is when set
		syntax   bool  // the cause is a *json.SyntaxError (errors.As)
	}{
		{
			name:     "directory without weights",
			setup:    func(*testing.T, string) {},
			open:     func(dir string) error { _, err := OpenDir(dir); return err },
			sentinel: ErrNotFound,
			cause:    fs.ErrNotExist,
		},
		{
			name: "index names a missing shard",
			setup: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, IndexFileName), []byte(`{"weight_map":{"w":"model-00001-of-00001.safetensors"}}`))
			},
			open:     func(dir string) error { _, err := OpenDir(dir); return err },
			sentinel: ErrMissingShard,
			cause:    fs.ErrNotExist,
		},
		{
			name:     "missing file",
			setup:    func(*testing.T, string) {},
			open:     func(dir string) error { _, err := Open(filepath.Join(dir, SingleFileName)); return err },
			sentinel: fs.ErrNotExist,
			cause:    fs.ErrNotExist,
		},
		{
			name: "index is not JSON",
			setup: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, IndexFileName), []byte("{not json"))
			},
			open:     func(dir string) error { _, err := OpenDir(dir); return err },
			sentinel: ErrInvalidHeader,
			syntax:   true,
		},
		{
			name: "header value is not JSON",
			setup: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, SingleFileName), file(`{"x":{"dtype":]}`, nil))
			},
			open:     func(dir string) error { _, err := Open(filepath.Join(dir, SingleFileName)); return err },
			sentinel: ErrInvalidHeader,
			syntax:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			err := tt.open(dir)
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("err = %v, want %v", err, tt.sentinel)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.cause)
			}
			var se *json.SyntaxError
			if tt.syntax && !errors.As(err, &se) {
				t.Errorf("err = %v (%T chain), want a *json.SyntaxError in its chain", err, err)
			}
		})
	}
}
