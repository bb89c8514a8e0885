package algorithms_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/toolbrain/toolbrain/plugins/algorithms"
	"github.com/toolbrain/toolbrain/sdk"
)

// referenceCase is one line of testdata/reference.json, written by
// testdata/make_reference.py from the TRL and OpenRLHF formulas in plain
// Python with exact rational means and stds.
type referenceCase struct {
	Name       string               `json:"name"`
	Config     algorithms.Config    `json:"config"`
	Request    sdk.AdvantageRequest `json:"request"`
	Advantages [][]float64          `json:"advantages"`
	Pairs      []sdk.PreferencePair `json:"pairs"`
}

func loadReference(t testing.TB) []referenceCase {
	t.Helper()
	data, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []referenceCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatalf("decode testdata/reference.json: %v", err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("no reference cases")
	}
	return ref.Cases
}

// close reports whether got is within 1e-12 of want, relative to max(1, |want|).
// The reference is exactly rounded; the Go code sums in order, so a few ulps
// apart at most.
func closeTo(got, want float64) bool {
	return math.Abs(got-want) <= 1e-12*math.Max(1, math.Abs(want))
}

func checkAdvantages(t *testing.T, got, want [][]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d groups, want %d", len(got), len(want))
	}
	for g := range want {
		if len(got[g]) != len(want[g]) {
			t.Fatalf("group %d: got %d advantages, want %d", g, len(got[g]), len(want[g]))
		}
		for i := range want[g] {
			if !closeTo(got[g][i], want[g][i]) {
				t.Errorf("advantage [%d][%d] = %.17g, want %.17g", g, i, got[g][i], want[g][i])
			}
		}
	}
}

func TestAlgorithms_Reference(t *testing.T) {
	for _, c := range loadReference(t) {
		t.Run(c.Name, func(t *testing.T) {
			a, err := algorithms.FromConfig(c.Config)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := a.Advantages(context.Background(), c.Request)
			if err != nil {
				t.Fatal(err)
			}
			if err := resp.Validate(c.Request); err != nil {
				t.Fatalf("response fails sdk validation: %v", err)
			}
			if c.Pairs != nil {
				if resp.Advantages != nil || resp.TokenAdvantages != nil {
					t.Errorf("dpo returned advantages too: %+v", resp)
				}
				if !reflect.DeepEqual(resp.Pairs, c.Pairs) {
					t.Errorf("pairs = %+v, want %+v", resp.Pairs, c.Pairs)
				}
				return
			}
			if resp.Pairs != nil || resp.TokenAdvantages != nil {
				t.Errorf("unexpected pairs or token advantages: %+v", resp)
			}
			checkAdvantages(t, resp.Advantages, c.Advantages)
		})
	}
}

// Values small enough to check by hand.
func TestAlgorithms_HandComputed(t *testing.T) {
	g := func(rewards ...float64) sdk.Group {
		return sdk.Group{Rewards: rewards, Lengths: make([]int, len(rewards))}
	}
	// [1, 0]: mean 0.5, unbiased std sqrt(0.5).
	a10 := 0.5 / (math.Sqrt(0.5) + 1e-4)
	tests := []struct {
		name   string
		alg    sdk.Algorithm
		groups []sdk.Group
		want   [][]float64
	}{
		{name: "grpo pair", alg: algorithms.GRPO{}, groups: []sdk.Group{g(1, 0)}, want: [][]float64{{a10, -a10}}},
		{name: "grpo all equal", alg: algorithms.GRPO{}, groups: []sdk.Group{g(3, 3, 3)}, want: [][]float64{{0, 0, 0}}},
		{name: "grpo single", alg: algorithms.GRPO{}, groups: []sdk.Group{g(7)}, want: [][]float64{{0}}},
		// Batch [1, 0, 1, 1]: unbiased std sqrt(0.75/3) = 0.5; group means 0.5 and 1.
		{name: "grpo batch", alg: algorithms.GRPO{Scale: algorithms.ScaleBatch}, groups: []sdk.Group{g(1, 0), g(1, 1)},
			want: [][]float64{{0.5 / 0.5001, -0.5 / 0.5001}, {0, 0}}},
		{name: "grpo none", alg: algorithms.GRPO{Scale: algorithms.ScaleNone}, groups: []sdk.Group{g(1, 0, 0, 0)}, want: [][]float64{{0.75, -0.25, -0.25, -0.25}}},
		{name: "dr_grpo", alg: algorithms.DrGRPO{}, groups: []sdk.Group{g(2, 4)}, want: [][]float64{{-1, 1}}},
		// TRL's own RLOO test: [1, 2, 3, 4] → baselines [3, 8/3, 7/3, 2].
		{name: "rloo", alg: algorithms.RLOO{}, groups: []sdk.Group{g(1, 2, 3, 4)}, want: [][]float64{{-2, 2 - 8.0/3, 3 - 7.0/3, 2}}},
		{name: "rloo single", alg: algorithms.RLOO{}, groups: []sdk.Group{g(5)}, want: [][]float64{{0}}},
		// [1, 0] → [1, -1]; mean 0, unbiased std sqrt(2).
		{name: "rloo normalized", alg: algorithms.RLOO{Normalize: true}, groups: []sdk.Group{g(1, 0)},
			want: [][]float64{{1 / (math.Sqrt2 + 1e-4), -1 / (math.Sqrt2 + 1e-4)}}},
		// Centred [0.5, -0.5] with lengths 3 and 1: μ = 0.25, σ² = (3·0.0625 + 0.5625)/4 = 0.1875.
		{name: "reinforce_pp_baseline weighted", alg: algorithms.ReinforcePPBaseline{},
			groups: []sdk.Group{{Rewards: []float64{1, 0}, Lengths: []int{3, 1}}},
			want:   [][]float64{{0.25 / math.Sqrt(0.1875), -0.75 / math.Sqrt(0.1875)}}},
		// Equal lengths: plain whitening, biased variance 0.25 → ±1.
		{name: "reinforce_pp_baseline equal lengths", alg: algorithms.ReinforcePPBaseline{},
			groups: []sdk.Group{{Rewards: []float64{1, 0}, Lengths: []int{5, 5}}}, want: [][]float64{{1, -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.alg.Advantages(context.Background(), sdk.AdvantageRequest{Groups: tt.groups})
			if err != nil {
				t.Fatal(err)
			}
			checkAdvantages(t, resp.Advantages, tt.want)
		})
	}
}

func TestDPOPairs(t *testing.T) {
	tests := []struct {
		name    string
		rewards [][]float64
		want    []sdk.PreferencePair
	}{
		{name: "best against worst", rewards: [][]float64{{0.2, 0.9, 0.1, 0.5}}, want: []sdk.PreferencePair{{Group: 0, Chosen: 1, Rejected: 2}}},
		{name: "ties break on lowest index", rewards: [][]float64{{0, 1, 0, 1}}, want: []sdk.PreferencePair{{Group: 0, Chosen: 1, Rejected: 0}}},
		{name: "all equal dropped", rewards: [][]float64{{1, 1}, {0, 2}}, want: []sdk.PreferencePair{{Group: 1, Chosen: 1, Rejected: 0}}},
		{name: "single trace", rewards: [][]float64{{3}}, want: []sdk.PreferencePair{}},
		{name: "negative rewards", rewards: [][]float64{{-3, -1, -2}}, want: []sdk.PreferencePair{{Group: 0, Chosen: 1, Rejected: 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sdk.AdvantageRequest{}
			for _, r := range tt.rewards {
				req.Groups = append(req.Groups, sdk.Group{Rewards: r, Lengths: make([]int, len(r))})
			}
			resp, err := algorithms.DPOPairs{}.Advantages(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Pairs == nil {
				t.Fatal("pairs is nil; want a non-nil slice so that the response validates")
			}
			if !reflect.DeepEqual(resp.Pairs, tt.want) {
				t.Errorf("pairs = %+v, want %+v", resp.Pairs, tt.want)
			}
			if err := resp.Validate(req); err != nil {
				t.Error(err)
			}
		})
	}
}

// randomBatch draws a batch of groups with varying sizes, rewards and lengths.
func randomBatch(r *rand.Rand) sdk.AdvantageRequest {
	req := sdk.AdvantageRequest{Groups: make([]sdk.Group, 1+r.IntN(6))}
	for g := range req.Groups {
		n := 1 + r.IntN(12)
		grp := sdk.Group{Rewards: make([]float64, n), Lengths: make([]int, n)}
		for i := range n {
			switch r.IntN(3) {
			case 0: // binary rewards, as exact match gives
				grp.Rewards[i] = float64(r.IntN(2))
			default:
				grp.Rewards[i] = r.NormFloat64()*3 + 1
			}
			grp.Lengths[i] = r.IntN(200)
		}
		req.Groups[g] = grp
	}
	return req
}

func allAlgorithms() map[string]sdk.Algorithm {
	return map[string]sdk.Algorithm{
		"grpo group":            algorithms.GRPO{},
		"grpo batch":            algorithms.GRPO{Scale: algorithms.ScaleBatch},
		"grpo none":             algorithms.GRPO{Scale: algorithms.ScaleNone},
		"dr_grpo":               algorithms.DrGRPO{},
		"rloo":                  algorithms.RLOO{},
		"rloo normalized":       algorithms.RLOO{Normalize: true},
		"reinforce_pp_baseline": algorithms.ReinforcePPBaseline{},
		"dpo":                   algorithms.DPOPairs{},
	}
}

func TestAlgorithms_Properties(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		req := randomBatch(r)
		shifted := sdk.AdvantageRequest{Groups: make([]sdk.Group, len(req.Groups))}
		shift := r.NormFloat64() * 10
		for g, grp := range req.Groups {
			rs := make([]float64, len(grp.Rewards))
			for i, x := range grp.Rewards {
				rs[i] = x + shift
			}
			shifted.Groups[g] = sdk.Group{Rewards: rs, Lengths: grp.Lengths}
		}
		results := map[string]sdk.AdvantageResponse{}
		for name, a := range allAlgorithms() {
			resp, err := a.Advantages(ctx, req)
			if err != nil {
				t.Fatalf("trial %d %s: %v", trial, name, err)
			}
			if err := resp.Validate(req); err != nil {
				t.Fatalf("trial %d %s: %v", trial, name, err)
			}
			results[name] = resp
			// Adding a constant to every reward changes nothing (up to
			// rounding of the shift itself).
			resp2, err := a.Advantages(ctx, shifted)
			if err != nil {
				t.Fatalf("trial %d %s shifted: %v", trial, name, err)
			}
			if name != "dpo" {
				for g := range resp.Advantages {
					for i := range resp.Advantages[g] {
						if d := math.Abs(resp.Advantages[g][i] - resp2.Advantages[g][i]); d > 1e-9*(1+math.Abs(shift)) {
							t.Fatalf("trial %d %s: shift %v moved advantage [%d][%d] by %g", trial, name, shift, g, i, d)
						}
					}
				}
			}
		}
		for g, grp := range req.Groups {
			// GRPO, Dr.GRPO and RLOO advantages sum to zero in every group.
			for _, name := range []string{"grpo group", "grpo batch", "grpo none", "dr_grpo", "rloo"} {
				s := 0.0
				for _, x := range results[name].Advantages[g] {
					s += x
				}
				if math.Abs(s) > 1e-9 {
					t.Errorf("trial %d %s group %d: advantages sum to %g", trial, name, g, s)
				}
			}
			// RLOO = n/(n-1) · Dr.GRPO (for n > 1).
			if n := len(grp.Rewards); n > 1 {
				for i := range n {
					want := float64(n) / float64(n-1) * results["dr_grpo"].Advantages[g][i]
					if got := results["rloo"].Advantages[g][i]; math.Abs(got-want) > 1e-9 {
						t.Errorf("trial %d group %d: rloo %v, want n/(n-1)·dr_grpo = %v", trial, g, got, want)
					}
				}
			}
		}
		// DPO: chosen has the group's maximum, rejected its minimum.
		for _, p := range results["dpo"].Pairs {
			rs := req.Groups[p.Group].Rewards
			for _, x := range rs {
				if x > rs[p.Chosen] || x < rs[p.Rejected] {
					t.Fatalf("trial %d: pair %+v is not best against worst of %v", trial, p, rs)
				}
			}
		}
		// REINFORCE++-baseline is whitened over tokens: token-weighted mean 0
		// and (biased) variance 1, unless the variance hit the floor.
		var tokens, s, ss float64
		for g, grp := range req.Groups {
			for i, l := range grp.Lengths {
				a := results["reinforce_pp_baseline"].Advantages[g][i]
				tokens += float64(l)
				s += float64(l) * a
				ss += float64(l) * a * a
			}
		}
		if tokens > 0 {
			if m := s / tokens; math.Abs(m) > 1e-9 {
				t.Errorf("trial %d: reinforce_pp_baseline token mean %g", trial, m)
			}
			if v := ss / tokens; v > 1e-6 && math.Abs(v-1) > 1e-9 {
				t.Errorf("trial %d: reinforce_pp_baseline token variance %g", trial, v)
			}
		}
	}
}

func TestAlgorithms_Errors(t *testing.T) {
	grp := func(rewards []float64, lengths []int) sdk.AdvantageRequest {
		return sdk.AdvantageRequest{Groups: []sdk.Group{{Rewards: rewards, Lengths: lengths}}}
	}
	tests := []struct {
		name string
		req  sdk.AdvantageRequest
	}{
		{name: "no groups", req: sdk.AdvantageRequest{}},
		{name: "empty group", req: grp([]float64{}, []int{})},
		{name: "nil group", req: sdk.AdvantageRequest{Groups: []sdk.Group{{}}}},
		{name: "length mismatch", req: grp([]float64{1, 0}, []int{3})},
		{name: "NaN reward", req: grp([]float64{1, math.NaN()}, []int{1, 1})},
		{name: "infinite reward", req: grp([]float64{math.Inf(-1), 0}, []int{1, 1})},
		{name: "huge reward", req: grp([]float64{1e200, 0}, []int{1, 1})},
		{name: "negative length", req: grp([]float64{1, 0}, []int{1, -1})},
		{name: "second group bad", req: sdk.AdvantageRequest{Groups: []sdk.Group{{Rewards: []float64{1}, Lengths: []int{1}}, {}}}},
	}
	for _, tt := range tests {
		for name, a := range allAlgorithms() {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				resp, err := a.Advantages(context.Background(), tt.req)
				if !errors.Is(err, sdk.ErrInvalidRequest) {
					t.Fatalf("err = %v, want sdk.ErrInvalidRequest", err)
				}
				if resp.Advantages != nil || resp.Pairs != nil {
					t.Errorf("response alongside an error: %+v", resp)
				}
			})
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, a := range allAlgorithms() {
		if _, err := a.Advantages(ctx, grp([]float64{1, 0}, []int{1, 1})); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: err = %v", name, err)
		}
	}
}

func TestFromConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  algorithms.Config
		want sdk.Algorithm
	}{
		{name: "zero value is grpo", cfg: algorithms.Config{}, want: algorithms.GRPO{}},
		{name: "grpo batch", cfg: algorithms.Config{Name: "grpo", ScaleRewards: "batch", Epsilon: 1e-6}, want: algorithms.GRPO{Scale: algorithms.ScaleBatch, Epsilon: 1e-6}},
		{name: "dr_grpo", cfg: algorithms.Config{Name: "dr_grpo"}, want: algorithms.DrGRPO{}},
		{name: "dr_grpo saying none", cfg: algorithms.Config{Name: "dr_grpo", ScaleRewards: "none"}, want: algorithms.DrGRPO{}},
		{name: "rloo", cfg: algorithms.Config{Name: "rloo", NormalizeAdvantages: true}, want: algorithms.RLOO{Normalize: true}},
		{name: "reinforce_pp_baseline", cfg: algorithms.Config{Name: "reinforce_pp_baseline", Epsilon: 1e-6}, want: algorithms.ReinforcePPBaseline{Epsilon: 1e-6}},
		{name: "dpo", cfg: algorithms.Config{Name: "dpo"}, want: algorithms.DPOPairs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := algorithms.FromConfig(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestFromConfig_Errors(t *testing.T) {
	tests := []struct {
		name string
		cfg  algorithms.Config
		want error
	}{
		{name: "unknown name", cfg: algorithms.Config{Name: "ppo"}, want: algorithms.ErrUnknownAlgorithm},
		{name: "bad scale", cfg: algorithms.Config{ScaleRewards: "std"}, want: algorithms.ErrBadConfig},
		{name: "negative epsilon", cfg: algorithms.Config{Epsilon: -1}, want: algorithms.ErrBadConfig},
		{name: "NaN epsilon", cfg: algorithms.Config{Name: "rloo", Epsilon: math.NaN()}, want: algorithms.ErrBadConfig},
		{name: "infinite epsilon", cfg: algorithms.Config{Name: "reinforce_pp_baseline", Epsilon: math.Inf(1)}, want: algorithms.ErrBadConfig},
		{name: "normalize for grpo", cfg: algorithms.Config{NormalizeAdvantages: true}, want: algorithms.ErrBadConfig},
		{name: "scale for dr_grpo", cfg: algorithms.Config{Name: "dr_grpo", ScaleRewards: "group"}, want: algorithms.ErrBadConfig},
		{name: "epsilon for dr_grpo", cfg: algorithms.Config{Name: "dr_grpo", Epsilon: 0.1}, want: algorithms.ErrBadConfig},
		{name: "scale for rloo", cfg: algorithms.Config{Name: "rloo", ScaleRewards: "batch"}, want: algorithms.ErrBadConfig},
		{name: "scale for reinforce", cfg: algorithms.Config{Name: "reinforce_pp_baseline", ScaleRewards: "group"}, want: algorithms.ErrBadConfig},
		{name: "epsilon for dpo", cfg: algorithms.Config{Name: "dpo", Epsilon: 1}, want: algorithms.ErrBadConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := algorithms.FromConfig(tt.cfg)
			if !errors.Is(err, tt.want) || a != nil {
				t.Fatalf("got %v, %v; want error %v", a, err, tt.want)
			}
		})
	}
	// A struct built directly with a bad field fails at the call instead.
	req := sdk.AdvantageRequest{Groups: []sdk.Group{{Rewards: []float64{1, 0}, Lengths: []int{1, 1}}}}
	if _, err := (algorithms.GRPO{Scale: "max"}).Advantages(context.Background(), req); !errors.Is(err, algorithms.ErrBadConfig) {
		t.Errorf("GRPO{Scale: max}: err = %v", err)
	}
}

// The [algorithm] table of toolbrain.toml decodes into Config.
func TestConfig_TOML(t *testing.T) {
	const doc = `
name = "grpo"
scale_rewards = "batch"
epsilon = 1e-3
`
	var c algorithms.Config
	md, err := toml.Decode(doc, &c)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Fatalf("undecoded keys %v", u)
	}
	want := algorithms.Config{Name: "grpo", ScaleRewards: algorithms.ScaleBatch, Epsilon: 1e-3}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
}

func TestConfigFromMap(t *testing.T) {
	tests := []struct {
		name    string
		m       map[string]string
		want    algorithms.Config
		wantErr error
		cause   error // the parse error, kept in the chain
	}{
		{name: "empty", m: nil, want: algorithms.Config{}},
		{name: "all keys", m: map[string]string{"name": "rloo", "epsilon": "0.001", "normalize_advantages": "true", "scale_rewards": "group"},
			want: algorithms.Config{Name: "rloo", Epsilon: 0.001, NormalizeAdvantages: true, ScaleRewards: "group"}},
		{name: "unknown key", m: map[string]string{"nmae": "grpo"}, wantErr: algorithms.ErrBadConfig},
		{name: "bad epsilon", m: map[string]string{"epsilon": "small"}, wantErr: algorithms.ErrBadConfig, cause: strconv.ErrSyntax},
		{name: "epsilon out of range", m: map[string]string{"epsilon": "1e999"}, wantErr: algorithms.ErrBadConfig, cause: strconv.ErrRange},
		{name: "bad bool", m: map[string]string{"normalize_advantages": "yes please"}, wantErr: algorithms.ErrBadConfig, cause: strconv.ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := algorithms.ConfigFromMap(tt.m)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Fatalf("err = %v, want its cause %v in the chain", err, tt.cause)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for _, n := range algorithms.Names() {
		if _, err := algorithms.FromConfig(algorithms.Config{Name: n}); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}
