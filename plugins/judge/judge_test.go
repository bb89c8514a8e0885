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

// script is an Ask that answers with the given texts in turn and records
// the requests.
type script struct {
	answers []string
	err     error
	got     []sdk.LLMRequest
}

func (s *script) ask(req sdk.LLMRequest) (sdk.LLMResponse, error) {
	s.got = append(s.got, req)
	if s.err != nil {
		return sdk.LLMResponse{}, s.err
	}
	if len(s.got) > len(s.answers) {
		return sdk.LLMResponse{}, errors.New("script: asked too often")
	}
	return sdk.LLMResponse{Text: s.answers[len(s.got)-1]}, nil
}

func TestRanker_Judge(t *testing.T) {
	tests := []struct {
		name    string
		ranker  judge.Ranker
		answers []string
		want    sdk.JudgeResponse
		asks    int
	}{
		{name: "first answer", answers: []string{"Here you go: ```json\n{\"ranking\":[1,0,2]}\n```"},
			want: sdk.JudgeResponse{Ranking: []int{1, 0, 2}, Scores: []float64{0.5, 1, 0}}, asks: 1},
		{name: "one-based answer", answers: []string{`{"ranking": [1, 3, 2]}`},
			want: sdk.JudgeResponse{Ranking: []int{0, 2, 1}, Scores: []float64{1, 0, 0.5}}, asks: 1},
		{name: "second answer after garbage", answers: []string{"I think the first one is best.", `{"ranking":[0,1,2]}`},
			want: sdk.JudgeResponse{Ranking: []int{0, 1, 2}, Scores: []float64{1, 0.5, 0}}, asks: 2},
		{name: "second answer after a bad list", answers: []string{`{"ranking":[0,0,1]}`, `[2,1,0]`},
			want: sdk.JudgeResponse{Ranking: []int{2, 1, 0}, Scores: []float64{0, 0.5, 1}}, asks: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{answers: tt.answers}
			got, err := tt.ranker.Judge(group(), s.ask)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Judge = %+v, want %+v", got, tt.want)
			}
			if err := got.Validate(3); err != nil {
				t.Errorf("response fails the host's check: %v", err)
			}
			if len(s.got) != tt.asks {
				t.Errorf("asked %d times, want %d", len(s.got), tt.asks)
			}
			if s.got[0].MaxTokens != judge.DefaultMaxTokens {
				t.Errorf("max_tokens %d, want %d", s.got[0].MaxTokens, judge.DefaultMaxTokens)
			}
		})
	}
}

// The second request repeats the conversation, the unreadable answer and a
// message saying what was wrong.
func TestRanker_Judge_Retry(t *testing.T) {
	s := &script{answers: []string{`{"ranking": [0, 0, 1]}`, `{"ranking": [2, 0, 1]}`}}
	if _, err := (judge.Ranker{MaxTokens: 77}).Judge(group(), s.ask); err != nil {
		t.Fatal(err)
	}
	first, second := s.got[0], s.got[1]
	if len(second.Messages) != len(first.Messages)+2 {
		t.Fatalf("retry has %d messages, want %d", len(second.Messages), len(first.Messages)+2)
	}
	if !reflect.DeepEqual(second.Messages[:len(first.Messages)], first.Messages) {
		t.Errorf("retry does not repeat the first conversation")
	}
	answer, fix := second.Messages[len(first.Messages)], second.Messages[len(first.Messages)+1]
	if answer.Role != "assistant" || answer.Content != `{"ranking": [0, 0, 1]}` {
		t.Errorf("retry's assistant message = %+v", answer)
	}
	if fix.Role != "user" || !strings.Contains(fix.Content, "0 repeated") || !strings.Contains(fix.Content, "from 0 to 2 exactly once") {
		t.Errorf("retry's correction = %+v", fix)
	}
	if strings.Contains(fix.Content, "judge: bad ranking") {
		t.Errorf("correction shows the Go error prefix to the model: %q", fix.Content)
	}
	if second.MaxTokens != 77 || first.MaxTokens != 77 {
		t.Errorf("max_tokens %d, %d, want 77", first.MaxTokens, second.MaxTokens)
	}
}

func TestRanker_Judge_Errors(t *testing.T) {
	errLLM := errors.New("endpoint down")
	tests := []struct {
		name    string
		ranker  judge.Ranker
		req     sdk.JudgeRequest
		s       *script
		is      error
		mention []string
		asks    int
	}{
		{name: "garbage twice", req: group(), s: &script{answers: []string{"no idea", "still no idea"}},
			is: judge.ErrBadRanking, mention: []string{"two answers", "first:", `"no idea"`, "second:", `"still no idea"`}, asks: 2},
		{name: "LLM fails", req: group(), s: &script{err: errLLM}, is: errLLM, mention: []string{"ask the LLM"}, asks: 1},
		{name: "no traces", req: sdk.JudgeRequest{}, s: &script{}, is: sdk.ErrInvalidRequest, mention: []string{"no traces"}},
		{name: "too many traces", req: sdk.JudgeRequest{Traces: make([]sdk.Trace, judge.MaxTraces+1)}, s: &script{},
			is: sdk.ErrInvalidRequest, mention: []string{"1025 traces"}},
		{name: "bad ranker", ranker: judge.Ranker{MaxTokens: -1}, req: group(), s: &script{}, is: judge.ErrBadConfig, mention: []string{"max_tokens -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.ranker.Judge(tt.req, tt.s.ask)
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("err = %v, want it to mention %q", err, m)
				}
			}
			if len(tt.s.got) != tt.asks {
				t.Errorf("asked %d times, want %d", len(tt.s.got), tt.asks)
			}
		})
	}
}

// A group of one is ranked without asking.
func TestRanker_Judge_One(t *testing.T) {
	s := &script{}
	got, err := judge.Ranker{}.Judge(sdk.JudgeRequest{Traces: []sdk.Trace{{FinalAnswer: "x"}}}, s.ask)
	if err != nil {
		t.Fatal(err)
	}
	if want := (sdk.JudgeResponse{Ranking: []int{0}, Scores: []float64{1}}); !reflect.DeepEqual(got, want) || len(s.got) != 0 {
		t.Errorf("Judge = %+v after %d asks, want %+v without asking", got, len(s.got), want)
	}
}

func TestNative(t *testing.T) {
	var seen context.Context
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	j := judge.Native{LLM: sdk.LLMFunc(func(ctx context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
		seen = ctx
		return sdk.LLMResponse{Text: `{"ranking":[2,1,0]}`}, nil
	})}
	got, err := j.Judge(ctx, group())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Ranking, []int{2, 1, 0}) || seen == nil || seen.Value(key{}) != "v" {
		t.Errorf("Judge = %+v, LLM ctx %v", got, seen)
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := j.Judge(cancelled, group()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
	if _, err := (judge.Native{}).Judge(ctx, group()); !errors.Is(err, judge.ErrBadConfig) {
		t.Errorf("no LLM: err = %v, want ErrBadConfig", err)
	}
}

func TestRankerFromConfig(t *testing.T) {
	tests := []struct {
		name string
		m    map[string]string
		want judge.Ranker
	}{
		{name: "empty", m: nil, want: judge.Ranker{}},
		{name: "all", m: map[string]string{"max_tokens": "128", "max_prompt_chars": "5000", "rubric": "short is better"},
			want: judge.Ranker{MaxTokens: 128, MaxPromptChars: 5000, Rubric: "short is better"}},
		{name: "zeros mean defaults", m: map[string]string{"max_tokens": "0", "max_prompt_chars": "0"}, want: judge.Ranker{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := judge.RankerFromConfig(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("RankerFromConfig(%v) = %+v, want %+v", tt.m, got, tt.want)
			}
		})
	}
	for _, k := range judge.ConfigKeys() {
		v := "1000"
		if k == "style" {
			v = judge.StyleRelative
		}
		if _, err := judge.FromConfig(map[string]string{k: v}); err != nil {
			t.Errorf("ConfigKeys lists %q, which FromConfig rejects: %v", k, err)
		}
	}
}

func TestRankerFromConfig_Errors(t *testing.T) {
	tests := []struct {
		name    string
		m       map[string]string
		mention string
	}{
		{name: "not a number", m: map[string]string{"max_tokens": "many"}, mention: `max_tokens "many": want a decimal integer`},
		{name: "negative tokens", m: map[string]string{"max_tokens": "-5"}, mention: "max_tokens -5"},
		{name: "budget too small", m: map[string]string{"max_prompt_chars": "10"}, mention: "max_prompt_chars 10: want 0 (default 24000) or at least 1000"},
		{name: "unknown key", m: map[string]string{"temperature": "0"}, mention: `unknown key "temperature"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := judge.RankerFromConfig(tt.m)
			if !errors.Is(err, judge.ErrBadConfig) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("err = %v, want ErrBadConfig mentioning %q", err, tt.mention)
			}
		})
	}
}

func TestFromConfig(t *testing.T) {
	tests := []struct {
		name string
		m    map[string]string
		want judge.GroupJudge
	}{
		{name: "default", m: nil, want: judge.Ranker{}},
		{name: "ranking", m: map[string]string{"style": "ranking", "rubric": "r"}, want: judge.Ranker{Rubric: "r"}},
		{name: "relative", m: map[string]string{"style": "relative", "max_tokens": "64"}, want: judge.Relative{MaxTokens: 64}},
		{name: "correctness", m: map[string]string{"style": "correctness", "max_prompt_chars": "2000"}, want: judge.Correctness{MaxPromptChars: 2000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := judge.FromConfig(tt.m)
			if err != nil || got != tt.want {
				t.Errorf("FromConfig(%v) = %#v, %v; want %#v", tt.m, got, err, tt.want)
			}
		})
	}
	for _, m := range []map[string]string{{"style": "vibes"}, {"style": "relative", "max_tokens": "-1"}, {"temperature": "1"}} {
		if _, err := judge.FromConfig(m); !errors.Is(err, judge.ErrBadConfig) {
			t.Errorf("FromConfig(%v): err = %v, want ErrBadConfig", m, err)
		}
	}
}
