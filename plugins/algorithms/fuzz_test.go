package algorithms_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/algorithms"
	"github.com/toolbrain/toolbrain/sdk"
)

// FuzzAdvantages feeds arbitrary JSON requests (what a WebAssembly build of
// these algorithms decodes from its input) to every algorithm: each must
// either fail with sdk.ErrInvalidRequest or return a response that passes the
// host's own validation, and never panic.
func FuzzAdvantages(f *testing.F) {
	f.Add([]byte(`{"groups":[{"rewards":[1,0,0,1],"lengths":[3,4,5,6]}]}`))
	f.Add([]byte(`{"groups":[{"rewards":[1e99,-1e99],"lengths":[0,0]},{"rewards":[0.5],"lengths":[7]}]}`))
	f.Add([]byte(`{"groups":[{"rewards":[],"lengths":[]}]}`))
	f.Add([]byte(`{"groups":[{"rewards":[1,2],"lengths":[1]}]}`))
	f.Add([]byte(`{"groups":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var req sdk.AdvantageRequest
		if json.Unmarshal(data, &req) != nil {
			return
		}
		for name, a := range allAlgorithms() {
			resp, err := a.Advantages(context.Background(), req)
			if err != nil {
				if !errors.Is(err, sdk.ErrInvalidRequest) {
					t.Fatalf("%s: error %v does not wrap sdk.ErrInvalidRequest", name, err)
				}
				continue
			}
			if err := resp.Validate(req); err != nil {
				t.Fatalf("%s: invalid response for %s: %v", name, data, err)
			}
		}
	})
}

// FuzzConfigFromMap checks that any key/value either parses into a config
// that FromConfig accepts or rejects with a package error, without panics.
func FuzzConfigFromMap(f *testing.F) {
	f.Add("name", "grpo", "epsilon", "1e-4")
	f.Add("scale_rewards", "batch", "normalize_advantages", "true")
	f.Add("epsilon", "NaN", "name", "rloo")
	f.Add("epsilon", "-1", "name", "dpo")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		cfg, err := algorithms.ConfigFromMap(map[string]string{k1: v1, k2: v2})
		if err != nil {
			if !errors.Is(err, algorithms.ErrBadConfig) {
				t.Fatalf("error %v does not wrap ErrBadConfig", err)
			}
			return
		}
		a, err := algorithms.FromConfig(cfg)
		if err != nil {
			if !errors.Is(err, algorithms.ErrBadConfig) && !errors.Is(err, algorithms.ErrUnknownAlgorithm) {
				t.Fatalf("FromConfig(%+v): %v", cfg, err)
			}
			return
		}
		req := sdk.AdvantageRequest{Groups: []sdk.Group{{Rewards: []float64{1, 0, 0.5}, Lengths: []int{1, 2, 3}}}}
		resp, err := a.Advantages(context.Background(), req)
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		if err := resp.Validate(req); err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
	})
}
