package limits_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/runtime/limits"
)

func TestWithDefaults(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	defaults := limits.Limits{MemoryPages: limits.DefaultMemoryPages, Timeout: limits.DefaultTimeout,
		MaxOutputBytes: limits.DefaultMaxOutputBytes, MaxInstances: procs}
	tests := []struct {
		name    string
		in      limits.Limits
		want    limits.Limits
		mention string // in the error; "" means no error
	}{
		{name: "zero value: every default", in: limits.Limits{}, want: defaults},
		{name: "set fields kept, the rest defaulted",
			in:   limits.Limits{MemoryPages: 4, MaxInstances: 3},
			want: limits.Limits{MemoryPages: 4, Timeout: limits.DefaultTimeout, MaxOutputBytes: limits.DefaultMaxOutputBytes, MaxInstances: 3}},
		{name: "every field set",
			in:   limits.Limits{MemoryPages: 1, Timeout: time.Millisecond, MaxOutputBytes: 1, MaxInstances: 1},
			want: limits.Limits{MemoryPages: 1, Timeout: time.Millisecond, MaxOutputBytes: 1, MaxInstances: 1}},
		{name: "memory at the wasm32 maximum", in: limits.Limits{MemoryPages: limits.MaxMemoryPages},
			want: limits.Limits{MemoryPages: limits.MaxMemoryPages, Timeout: limits.DefaultTimeout, MaxOutputBytes: limits.DefaultMaxOutputBytes, MaxInstances: procs}},
		{name: "memory above 4 GiB", in: limits.Limits{MemoryPages: limits.MaxMemoryPages + 1}, mention: "memory_pages 65537"},
		{name: "negative timeout", in: limits.Limits{Timeout: -time.Second}, mention: "negative timeout -1s"},
		{name: "negative output cap", in: limits.Limits{MaxOutputBytes: -1}, mention: "negative max_output_bytes -1"},
		{name: "negative instances", in: limits.Limits{MaxInstances: -2}, mention: "negative max_instances -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.WithDefaults()
			if tt.mention != "" {
				if !errors.Is(err, limits.ErrOutOfRange) || !strings.Contains(err.Error(), tt.mention) {
					t.Fatalf("WithDefaults(%+v) error %v, want ErrOutOfRange mentioning %q", tt.in, err, tt.mention)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("WithDefaults(%+v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestWithDefaults_AfterOverride: the hosts default what a manifest and
// toolbrain.toml leave unset together, not each on its own.
func TestWithDefaults_AfterOverride(t *testing.T) {
	manifest := limits.Limits{Timeout: 5 * time.Minute, MaxOutputBytes: 10}
	user := limits.Limits{MaxOutputBytes: 20, MaxInstances: 2}
	got, err := manifest.Override(user).WithDefaults()
	want := limits.Limits{MemoryPages: limits.DefaultMemoryPages, Timeout: 5 * time.Minute, MaxOutputBytes: 20, MaxInstances: 2}
	if err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
}
