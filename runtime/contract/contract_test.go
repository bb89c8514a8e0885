package contract_test

import (
	"reflect"
	"testing"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/sdk"
)

func TestPermissions_Intersect(t *testing.T) {
	tests := []struct {
		name       string
		asks, gets contract.Permissions
		want       contract.Permissions
	}{
		{name: "zero grants nothing", asks: contract.Permissions{HostFunctions: []string{sdk.PermissionLLM}, Env: []string{"HOME"}}},
		{
			name: "only what both list",
			asks: contract.Permissions{HostFunctions: []string{sdk.PermissionLLM, sdk.PermissionLog}, AllowedPaths: []string{"/data"}, Env: []string{"A", "B"}},
			gets: contract.Permissions{HostFunctions: []string{sdk.PermissionLog, sdk.PermissionTool}, AllowedPaths: []string{"/data", "/tmp"}, Env: []string{"B"}},
			want: contract.Permissions{HostFunctions: []string{sdk.PermissionLog}, AllowedPaths: []string{"/data"}, Env: []string{"B"}},
		},
		{
			name: "duplicates once, in the asker's order",
			asks: contract.Permissions{HostFunctions: []string{sdk.PermissionTool, sdk.PermissionLLM, sdk.PermissionTool}},
			gets: contract.Permissions{HostFunctions: []string{sdk.PermissionLLM, sdk.PermissionTool}},
			want: contract.Permissions{HostFunctions: []string{sdk.PermissionTool, sdk.PermissionLLM}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.asks.Intersect(tt.gets)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Intersect = %+v, want %+v", got, tt.want)
			}
			for _, fn := range []string{sdk.PermissionTool, sdk.PermissionLLM, sdk.PermissionLog, sdk.PermissionConfig} {
				want := false
				for _, w := range tt.want.HostFunctions {
					want = want || w == fn
				}
				if got.Has(fn) != want {
					t.Errorf("Has(%q) = %v, want %v", fn, got.Has(fn), want)
				}
			}
		})
	}
}
