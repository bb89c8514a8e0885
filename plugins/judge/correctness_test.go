package judge_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/judge"
	"github.com/toolbrain/toolbrain/sdk"
)

func TestCorrectness_Prompt(t *testing.T) {
	g := group()
	msgs := judge.Correctness{Rubric: "units do not matter"}.Prompt(sdk.RewardRequest{Expected: g.Expected, Task: g.Task, Trace: g.Traces[1]})
	if len(msgs) != 2 || msgs[0].Role != "system" || msgs[1].Role != "user" {
		t.Fatalf("messages %+v, want system then user", msgs)
	}
	if !strings.Contains(msgs[0].Content, `{"reasoning": "one short sentence", "accept": true}`) {
		t.Errorf("system message lacks the answer format:\n%s", msgs[0].Content)
	}
	user := msgs[1].Content
	for _, want := range []string{
		"# Question\nWhat is 6*7?", "# Reference answer\n42", "# Rubric\nunits do not matter",
		`Tool call: calc {"expr":"6*7"}`, "Observation (error) from calc: division by zero", "Error: no tool call found",
		"# The agent's final answer\n<answer>\n41\n</answer>", "Is the final answer correct?",
	} {
		if !strings.Contains(user, want) {
			t.Errorf("user message lacks %q:\n%s", want, user)
		}
	}
}

func TestParseVerdict(t *testing.T) {
	tests := []struct {
		name, text string
		want       bool
		mention    string // an error is wanted when set
	}{
		{name: "accept", text: `{"reasoning": "matches", "accept": true}`, want: true},
		{name: "reject in a fence", text: "```json\n{\"reasoning\": \"41 is not 42\", \"accept\": false}\n```", want: false},
		{name: "string verdict", text: `{"Accept": "yes"}`, want: true},
		{name: "a bare word", text: " No.", want: false},
		{name: "last object wins", text: `{"accept": false} on second thought {"accept": true}`, want: true},
		{name: "prose", text: "I think the answer is right.", mention: `no JSON object with an "accept" key`},
		{name: "not a boolean", text: `{"accept": 0.7}`, mention: `"accept" is 0.7: want true or false`},
		{name: "empty", text: "", mention: "no JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := judge.ParseVerdict(tt.text)
			if tt.mention != "" {
				if !errors.Is(err, judge.ErrBadVerdict) || !strings.Contains(err.Error(), tt.mention) {
					t.Errorf("err = %v, want ErrBadVerdict mentioning %q", err, tt.mention)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseVerdict = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestCorrectness_Judge(t *testing.T) {
	s := &script{answers: []string{`{"accept": true}`, "maybe?", `{"accept": false}`}}
	got, err := judge.Correctness{}.Judge(group(), s.ask)
	if err != nil {
		t.Fatal(err)
	}
	// The third trace has no final answer: 0 without asking.
	if want := []float64{1, 0, 0}; !reflect.DeepEqual(got.Scores, want) || len(s.got) != 3 {
		t.Errorf("Judge = %+v after %d asks, want %v after 3 (one retry, one trace without an answer)", got, len(s.got), want)
	}

	errs := []struct {
		name string
		req  sdk.JudgeRequest
		s    *script
		is   []error
	}{
		{name: "no reference answer", req: sdk.JudgeRequest{Traces: []sdk.Trace{{FinalAnswer: "x"}}}, s: &script{}, is: []error{sdk.ErrInvalidRequest}},
		{name: "unreadable twice", req: group(), s: &script{answers: []string{"?", "??"}}, is: []error{judge.ErrBadVerdict, sdk.ErrUnreadableAnswer}},
		{name: "LLM fails", req: group(), s: &script{err: context.DeadlineExceeded}, is: []error{context.DeadlineExceeded}},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := judge.Correctness{}.Judge(tt.req, tt.s.ask)
			for _, is := range tt.is {
				if !errors.Is(err, is) {
					t.Errorf("err = %v, want %v", err, is)
				}
			}
		})
	}
}

func TestCorrectnessReward(t *testing.T) {
	g := group()
	var asked int
	r := judge.CorrectnessReward{LLM: sdk.LLMFunc(func(ctx context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
		asked++
		if strings.Contains(req.Messages[1].Content, "<answer>\n42\n</answer>") {
			return sdk.LLMResponse{Text: `{"accept": true}`}, nil
		}
		return sdk.LLMResponse{Text: `{"accept": false}`}, nil
	})}
	one, err := r.Reward(context.Background(), sdk.RewardRequest{Expected: "42", Trace: g.Traces[0]})
	if err != nil || one.Score != 1 {
		t.Errorf("Reward = %+v, %v; want 1", one, err)
	}
	all, err := r.RewardGroup(context.Background(), sdk.RewardGroupRequest{Expected: "42", Traces: g.Traces})
	if err != nil || !reflect.DeepEqual(all.Scores, []float64{1, 0, 0}) || asked != 3 {
		t.Errorf("RewardGroup = %+v, %v after %d asks; want [1 0 0] after 3", all, err, asked)
	}
	if _, err := (judge.CorrectnessReward{}).Reward(context.Background(), sdk.RewardRequest{Expected: "42"}); !errors.Is(err, judge.ErrBadConfig) {
		t.Errorf("no LLM: err = %v, want ErrBadConfig", err)
	}
}

func TestModel(t *testing.T) {
	llm := sdk.LLMFunc(func(ctx context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
		return sdk.LLMResponse{Text: `{"scores": [0.2, 0.8, 0.5]}`}, nil
	})
	got, err := judge.Model{Of: judge.Relative{}, LLM: llm}.Judge(context.Background(), group())
	if err != nil || !reflect.DeepEqual(got.Scores, []float64{0.2, 0.8, 0.5}) {
		t.Errorf("Judge = %+v, %v", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (judge.Model{Of: judge.Relative{}, LLM: llm}).Judge(ctx, group()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	if _, err := (judge.Model{Of: judge.Relative{}}).Judge(context.Background(), group()); !errors.Is(err, judge.ErrBadConfig) {
		t.Errorf("no LLM: err = %v", err)
	}
}
