package main

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
)

// A usage error keeps its cause in the chain: errors.Is finds both errUsage
// (exit status 2 and the usage line) and the sentinel of the package that
// refused the arguments.
func TestUsageErrors_KeepCause(t *testing.T) {
	o := &cmdIO{stdout: io.Discard, stderr: io.Discard}
	tests := []struct {
		name  string
		run   func() error
		cause error
	}{
		{name: "data email: corpus options", cause: corpus.ErrBadOptions, run: func() error {
			return dataEmail(context.Background(), o, []string{"--seed", "1", "--out", t.TempDir(), "--inboxes", "65"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, errUsage) || !errors.Is(err, tt.cause) {
				t.Fatalf("err = %v, want errUsage wrapping %v", err, tt.cause)
			}
		})
	}
}
