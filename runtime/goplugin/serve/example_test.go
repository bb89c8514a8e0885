package serve_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime/goplugin/serve"
	"github.com/toolbrain/toolbrain/sdk"
)

// The main of a reward plugin. Serve returns only once the host stops the
// process (or at once, for an invalid Plugin), so this example does not run.
func ExampleServe() {
	err := serve.Serve(serve.Plugin{
		Name:   "exact-match",
		Kind:   sdk.KindReward,
		Reward: rewards.ExactMatch{Normalize: true},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// llmJudge scores each trace by asking the coach's judge model through
// the host.
type llmJudge struct{}

func (llmJudge) Judge(ctx context.Context, req sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	var scores []float64
	for _, tr := range req.Traces {
		resp, err := serve.Host(ctx).LLM(ctx, sdk.LLMRequest{
			Messages: []sdk.Message{
				{Role: "system", Content: "Rate the answer from 0 to 10. Reply with the number only."},
				{Role: "user", Content: "Expected: " + req.Expected + "\nAnswer: " + tr.FinalAnswer},
			},
			MaxTokens: 4,
		})
		if err != nil {
			return sdk.JudgeResponse{}, fmt.Errorf("llm-judge: %w", err)
		}
		score, err := strconv.ParseFloat(strings.TrimSpace(resp.Text), 64)
		if err != nil {
			return sdk.JudgeResponse{}, fmt.Errorf("llm-judge: the judge model answered %q, not a score", resp.Text)
		}
		scores = append(scores, score/10)
	}
	return sdk.JudgeResponse{Scores: scores}, nil
}

// A judge that asks the coach's judge model. Its main serves it asking for
// the LLM permission (the host's configuration must grant "llm" too):
//
//	serve.Serve(serve.Plugin{Name: "llm-judge", Kind: sdk.KindJudge, Judge: llmJudge{},
//		HostFunctions: []string{sdk.PermissionLLM}})
//
// Its tests call it in-process, with WithHost standing in for the host.
func ExampleHost() {
	model := sdk.LLMFunc(func(_ context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
		if strings.HasSuffix(req.Messages[1].Content, "Answer: 42") {
			return sdk.LLMResponse{Text: "10"}, nil
		}
		return sdk.LLMResponse{Text: " 3\n"}, nil
	})
	ctx := serve.WithHost(context.Background(), nil, model)
	resp, err := llmJudge{}.Judge(ctx, sdk.JudgeRequest{Expected: "42", Traces: []sdk.Trace{{FinalAnswer: "42"}, {FinalAnswer: "41"}}})
	fmt.Println(resp.Scores, err)

	// Without a host (or without the grant) the call is refused, not a panic.
	_, err = llmJudge{}.Judge(context.Background(), sdk.JudgeRequest{Traces: []sdk.Trace{{}}})
	fmt.Println(err)
	// Output:
	// [1 0.3] <nil>
	// llm-judge: sdk: permission denied: toolbrain_llm: no host in this context: serve.Host needs the context of a plugin call (or, in a test, one made by serve.WithHost)
}

// A plugin's test calls its Server in-process, JSON in and out, as the host
// would, without starting a process.
func ExampleServer_Call() {
	s, err := serve.NewServer(serve.Plugin{Name: "exact-match", Kind: sdk.KindReward, Reward: rewards.ExactMatch{Normalize: true}})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := s.Call(context.Background(), sdk.RewardFunction, []byte(`{"expected": "Paris", "trace": {"final_answer": " paris "}}`))
	fmt.Println(string(out), err)
	_, err = s.Call(context.Background(), sdk.JudgeFunction, []byte(`{}`))
	fmt.Println(err)
	// Output:
	// {"score":1} <nil>
	// serve: invalid plugin: plugin "exact-match" does not serve function "judge" (it serves reward)
}
