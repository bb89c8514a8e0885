package plugintest_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/sdk"
	"github.com/toolbrain/toolbrain/sdk/plugintest"
)

// ---- well-behaved plugins ----

type exact struct{}

func (exact) Reward(_ context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	if req.Trace.FinalAnswer == req.Expected {
		return sdk.RewardResponse{Score: 1, Info: map[string]float64{"len": float64(len(req.Expected))}}, nil
	}
	return sdk.RewardResponse{Score: 0}, nil
}

func (e exact) RewardGroup(ctx context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	out := sdk.RewardGroupResponse{Scores: []float64{}}
	for _, tr := range req.Traces {
		r, _ := e.Reward(ctx, sdk.RewardRequest{Expected: req.Expected, Trace: tr})
		out.Scores = append(out.Scores, r.Score)
	}
	return out, nil
}

var upperSpec = sdk.ToolSpec{Name: "upper", Description: "Upper-case text.",
	Parameters: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"},"times":{"type":"integer"}},"required":["text"]}`)}

// upper checks its own arguments, as a native tool must.
type upper struct{ lax, panics bool }

func (u upper) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	if req.Name != "upper" && !u.lax {
		return sdk.ToolCallResponse{}, errors.New("unknown tool")
	}
	var args struct {
		Text  *string `json:"text"`
		Times *int    `json:"times"`
	}
	if err := json.Unmarshal(req.Arguments, &args); err != nil || args.Text == nil {
		if u.panics {
			panic("bad arguments")
		}
		if !u.lax {
			return sdk.ToolCallResponse{Content: "need text", IsError: true}, nil
		}
		s := ""
		args.Text = &s
	}
	n := 1
	if args.Times != nil {
		n = *args.Times
	}
	return sdk.ToolCallResponse{Content: strings.Repeat(strings.ToUpper(*args.Text), n)}, nil
}

var upperCases = []plugintest.ToolCase{
	{Name: "hello", Request: sdk.ToolCallRequest{Name: "upper", Arguments: json.RawMessage(`{"text":"hi","times":2}`)}, WantContent: "HIHI"},
	{Name: "missing", Request: sdk.ToolCallRequest{Name: "upper", Arguments: json.RawMessage(`{"times":2}`)}, WantError: true},
}

// center subtracts the group mean, and refuses malformed batches.
type center struct{ shape, lax bool }

func (c center) Advantages(_ context.Context, req sdk.AdvantageRequest) (sdk.AdvantageResponse, error) {
	if !c.lax {
		if err := req.Validate(); err != nil {
			return sdk.AdvantageResponse{}, err
		}
	}
	var out sdk.AdvantageResponse
	for _, g := range req.Groups {
		mean := 0.0
		for _, r := range g.Rewards {
			mean += r / float64(len(g.Rewards))
		}
		a := []float64{}
		for _, r := range g.Rewards {
			a = append(a, r-mean)
		}
		if c.shape {
			a = a[:len(a)-1]
		}
		out.Advantages = append(out.Advantages, a)
	}
	return out, nil
}

type lengthJudge struct{ broken bool }

func (j lengthJudge) Judge(_ context.Context, req sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	r := make([]int, len(req.Traces))
	for i := range r {
		r[i] = i
	}
	if j.broken {
		r[0] = len(r) // out of range
	}
	return sdk.JudgeResponse{Ranking: r}, nil
}

func TestKit_WellBehaved(t *testing.T) {
	t.Run("reward", func(t *testing.T) {
		plugintest.TestReward(t, exact{}, plugintest.RewardCase{Name: "match", Request: sdk.RewardRequest{Expected: "a", Trace: sdk.Trace{FinalAnswer: "a"}}, Want: 1})
	})
	t.Run("tool", func(t *testing.T) { plugintest.TestTool(t, upper{}, []sdk.ToolSpec{upperSpec}, upperCases...) })
	t.Run("algorithm", func(t *testing.T) { plugintest.TestAlgorithm(t, center{}) })
	t.Run("judge", func(t *testing.T) { plugintest.TestJudge(t, lengthJudge{}) })
}

// ---- broken plugins: each must make the kit fail, in the named check ----

type nanReward struct{}

func (nanReward) Reward(context.Context, sdk.RewardRequest) (sdk.RewardResponse, error) {
	return sdk.RewardResponse{Score: math.NaN()}, nil
}

type randomReward struct{}

func (randomReward) Reward(context.Context, sdk.RewardRequest) (sdk.RewardResponse, error) {
	return sdk.RewardResponse{Score: rand.Float64()}, nil
}

var broken = map[string]struct {
	run  func(t *testing.T)
	want string // the failing check
}{
	"nan-reward":    {func(t *testing.T) { plugintest.TestReward(t, nanReward{}) }, "/valid_output"},
	"random-reward": {func(t *testing.T) { plugintest.TestReward(t, randomReward{}) }, "/deterministic"},
	"wrong-case":    {func(t *testing.T) { plugintest.TestReward(t, exact{}, plugintest.RewardCase{Name: "c", Want: 0}) }, "/cases"},
	"lax-tool":      {func(t *testing.T) { plugintest.TestTool(t, upper{lax: true}, []sdk.ToolSpec{upperSpec}, upperCases[0]) }, "/invalid_input"},
	"panicking-tool": {func(t *testing.T) {
		plugintest.TestTool(t, upper{panics: true}, []sdk.ToolSpec{upperSpec}, upperCases[0])
	}, "/invalid_input"},
	"bad-spec":      {func(t *testing.T) { plugintest.TestTool(t, upper{}, []sdk.ToolSpec{{Name: "upper case"}}) }, "/specs"},
	"algo-shape":    {func(t *testing.T) { plugintest.TestAlgorithm(t, center{shape: true}) }, "/valid_output"},
	"algo-lax":      {func(t *testing.T) { plugintest.TestAlgorithm(t, center{lax: true}) }, "/invalid_input"},
	"judge-ranking": {func(t *testing.T) { plugintest.TestJudge(t, lengthJudge{broken: true}) }, "/valid_output"},
}

// TestHelperBroken runs one broken plugin through the kit when the parent
// test asks for it; it is expected to fail.
func TestHelperBroken(t *testing.T) {
	name := os.Getenv("PLUGINTEST_BROKEN")
	if name == "" {
		t.Skip("helper for TestKit_CatchesBroken")
	}
	broken[name].run(t)
}

func TestKit_CatchesBroken(t *testing.T) {
	for name, b := range broken {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBroken$", "-test.v")
			cmd.Env = append(os.Environ(), "PLUGINTEST_BROKEN="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed a broken plugin:\n%s", out)
			}
			if want := "--- FAIL: TestHelperBroken" + b.want; !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		})
	}
}
