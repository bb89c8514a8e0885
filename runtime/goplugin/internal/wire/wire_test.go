package wire

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/sdk"
)

func TestDenial_String(t *testing.T) {
	tests := []struct {
		name string
		d    Denial
		want []string
		not  []string
	}{
		{name: "not asked", d: Denial{Plugin: "judge", Permission: sdk.PermissionLLM, NotAsked: true},
			want: []string{`plugin "judge"`, sdk.HostLLM, `permission "llm"`, "add sdk.PermissionLLM to serve.Plugin.HostFunctions"},
			not:  []string{"grant", "toolpack.toml"}},
		{name: "not granted", d: Denial{Plugin: "judge", Permission: sdk.PermissionTool, NotGranted: true},
			want: []string{sdk.HostCallTool, `add "tool" to the plugin's grant.host_functions`},
			not:  []string{"serve.Plugin", "toolpack.toml"}},
		{name: "not in the manifest", d: Denial{Plugin: "search", Permission: sdk.PermissionLLM, NotInManifest: true},
			want: []string{`add "llm" to host_functions under [permissions] in toolpack.toml`},
			not:  []string{"serve.Plugin", "grant"}},
		{name: "all three", d: Denial{Plugin: "x", Permission: sdk.PermissionTool, NotAsked: true, NotInManifest: true, NotGranted: true},
			want: []string{"sdk.PermissionTool", "toolpack.toml", "grant.host_functions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.d.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("%q mentions %q", got, n)
				}
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
	}{
		{name: "permission denied, wrapped", err: fmt.Errorf("judge: %w", sdk.ErrPermissionDenied), code: ErrorCodePermissionDenied},
		{name: "other sentinel", err: sdk.ErrInvalidRequest, code: ""},
		{name: "plain", err: errors.New("no route"), code: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := ErrorCode(tt.err)
			if code != tt.code {
				t.Fatalf("code %q, want %q", code, tt.code)
			}
			if s := Sentinel(code); (code == "") != (s == nil) || (s != nil && !errors.Is(tt.err, s)) {
				t.Fatalf("Sentinel(%q) = %v", code, s)
			}
		})
	}
}
