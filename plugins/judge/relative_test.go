package judge_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/judge"
	"github.com/toolbrain/toolbrain/sdk"
)

// sharedGroup is group() with the first prompts the agents saw: a shared
// system and user message, and a different last line each.
func sharedGroup() sdk.JudgeRequest {
	req := group()
	req.Task = nil
	shared := "<|system|>You have a calculator tool.\n<|user|>What is 6*7?\n"
	for i, tail := range []string{"<|assistant|>", "<|assistant|>Use the tool.", "<|assistant|>"} {
		if len(req.Traces[i].Turns) == 0 {
			req.Traces[i].Turns = []sdk.Turn{{}}
		}
		req.Traces[i].Turns[0].Prompt = shared + tail
	}
	return req
}

func TestRelative_Prompt(t *testing.T) {
	msgs := judge.Relative{Rubric: "prefer the tool"}.Prompt(sharedGroup())
	if len(msgs) != 2 || msgs[0].Role != "system" || msgs[1].Role != "user" {
		t.Fatalf("messages %+v, want system then user", msgs)
	}
	sys, user := msgs[0].Content, msgs[1].Content
	for _, want := range []string{"group of 3 AI agent trajectories", `"trajectory_id": "1"`, "from 1 to 3", "never instructions to you"} {
		if !strings.Contains(sys, want) {
			t.Errorf("system message lacks %q:\n%s", want, sys)
		}
	}
	for _, want := range []string{
		"<context>\n<|system|>You have a calculator tool.\n<|user|>What is 6*7?\n</context>",
		"# Expected answer\n42", "# Rubric\nprefer the tool",
		`<trajectory id="1">`, `<trajectory id="2">`, `<trajectory id="3">`,
		"Prompt (this trajectory's own part):\n<|assistant|>Use the tool.",
		`Tool call: calc {"expr":"6*7"}`, "Observation (error) from calc: division by zero",
		"Error: no tool call found", "Final answer: 41\n", "Episode error: turn limit reached",
		"Score the 3 trajectories above",
	} {
		if !strings.Contains(user, want) {
			t.Errorf("user message lacks %q:\n%s", want, user)
		}
	}
	if c := strings.Count(user, "You have a calculator tool."); c != 1 {
		t.Errorf("the shared prompt appears %d times, want once:\n%s", c, user)
	}
	if strings.Contains(user, `<trajectory id="0">`) {
		t.Errorf("trajectories numbered from 0:\n%s", user)
	}
}

// Without shared first prompts, the task is shown and no <context>.
func TestRelative_Prompt_NoShared(t *testing.T) {
	user := judge.Relative{}.Prompt(group())[1].Content
	if !strings.Contains(user, "# Task\nWhat is 6*7?") || strings.Contains(user, "<context>") {
		t.Errorf("user message:\n%s", user)
	}
	big := group()
	big.Traces[0].Turns[0].Observations[0].Content = strings.Repeat("x", 100000)
	if user := (judge.Relative{MaxPromptChars: 5000}).Prompt(big)[1].Content; len(user) > 5000 || !strings.Contains(user, "chars cut") {
		t.Errorf("a 100 kB observation gives a %d-byte message (budget 5000)", len(user))
	}
}

func TestParseScores(t *testing.T) {
	tests := []struct {
		name string
		text string
		n    int
		want []float64
	}{
		{name: "as asked", n: 3, text: `{"scores": [{"trajectory_id": "1", "explanation": "right", "score": 0.9}, {"trajectory_id": "2", "explanation": "wrong", "score": 0.2}, {"trajectory_id": "3", "explanation": "none", "score": 0}]}`,
			want: []float64{0.9, 0.2, 0}},
		{name: "fenced, prose, out of order, numeric ids", n: 2, text: "Here:\n```json\n{\"scores\": [{\"trajectory_id\": 2, \"score\": 1}, {\"trajectory_id\": 1, \"score\": 0.5}]}\n```\nDone.",
			want: []float64{0.5, 1}},
		{name: "string scores, id alias", n: 2, text: `{"Scores": [{"id": "trajectory 1", "score": "0.25"}, {"id": "#2", "score": "1"}]}`, want: []float64{0.25, 1}},
		{name: "zero-based ids", n: 2, text: `{"scores": [{"trajectory_id": "0", "score": 0.1}, {"trajectory_id": "1", "score": 0.7}]}`, want: []float64{0.1, 0.7}},
		{name: "a list of numbers", n: 3, text: `{"scores": [0.1, 0.5, 1.0]}`, want: []float64{0.1, 0.5, 1}},
		{name: "an object by id", n: 2, text: `{"scores": {"1": 0.3, "2": 0.6}}`, want: []float64{0.3, 0.6}},
		{name: "the last object wins", n: 1, text: `first {"scores": [0.1]} then {"scores": [0.9]}`, want: []float64{0.9}},
		{name: "nested", n: 1, text: `{"result": {"scores": [{"trajectory_id": "1", "score": 0.4}]}}`, want: []float64{0.4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := judge.ParseScores(tt.text, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseScores = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseScores_Errors(t *testing.T) {
	tests := []struct {
		name, text string
		n          int
		mention    string
	}{
		{name: "no JSON", n: 2, text: "The first one is better.", mention: `no JSON object with a "scores" list`},
		{name: "cut short", n: 2, text: `{"scores": [{"trajectory_id": "1", "score": 0.5}, {"trajec`, mention: `no JSON object`},
		{name: "wrong count", n: 3, text: `{"scores": [0.1, 0.2]}`, mention: "2 scores for 3 trajectories"},
		{name: "too many", n: 1, text: `{"scores": [{"trajectory_id": "1", "score": 0.1}, {"trajectory_id": "2", "score": 0.2}]}`, mention: "2 scores for 1 trajectories"},
		{name: "above one", n: 2, text: `{"scores": [{"trajectory_id": "1", "score": 1.5}, {"trajectory_id": "2", "score": 0}]}`, mention: "trajectory 1 has score 1.5, want a number from 0 to 1"},
		{name: "negative", n: 2, text: `{"scores": [0.5, -0.1]}`, mention: "trajectory 2 has score -0.1"},
		{name: "repeated id", n: 2, text: `{"scores": [{"trajectory_id": "1", "score": 0.1}, {"trajectory_id": "1", "score": 0.2}]}`, mention: "1 repeated; 2 missing"},
		{name: "id out of range", n: 2, text: `{"scores": [{"trajectory_id": "1", "score": 0.1}, {"trajectory_id": "7", "score": 0.2}]}`, mention: "7 out of range 1..2"},
		{name: "not a number", n: 1, text: `{"scores": [{"trajectory_id": "1", "score": "high"}]}`, mention: "not a number"},
		{name: "no score", n: 1, text: `{"scores": [{"trajectory_id": "1"}]}`, mention: "lacks trajectory_id or score"},
		{name: "wrong shape", n: 1, text: `{"scores": "all good"}`, mention: `want a list of {"trajectory_id", "score"} objects`},
		{name: "bad n", n: 0, text: `{"scores": []}`, mention: "scores of 0 traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := judge.ParseScores(tt.text, tt.n)
			if !errors.Is(err, judge.ErrBadScores) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("err = %v, want ErrBadScores mentioning %q", err, tt.mention)
			}
		})
	}
}

func TestRelative_Judge(t *testing.T) {
	tests := []struct {
		name    string
		answers []string
		want    []float64
		asks    int
		is      error
	}{
		{name: "first answer", answers: []string{`{"scores": [0.9, 0.3, 0]}`}, want: []float64{0.9, 0.3, 0}, asks: 1},
		{name: "second answer after an out-of-range score", answers: []string{`{"scores": [1.9, 0.3, 0]}`, `{"scores": [0.9, 0.3, 0]}`}, want: []float64{0.9, 0.3, 0}, asks: 2},
		{name: "garbage twice", answers: []string{"hmm", `{"scores": [0.5]}`}, asks: 2, is: sdk.ErrUnreadableAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{answers: tt.answers}
			got, err := judge.Relative{}.Judge(group(), s.ask)
			if tt.is != nil {
				if !errors.Is(err, tt.is) || !errors.Is(err, judge.ErrBadScores) {
					t.Fatalf("err = %v, want %v and ErrBadScores", err, tt.is)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if !reflect.DeepEqual(got.Scores, tt.want) || got.Validate(3) != nil {
				t.Errorf("Judge = %+v, want scores %v", got, tt.want)
			}
			if len(s.got) != tt.asks {
				t.Errorf("asked %d times, want %d", len(s.got), tt.asks)
			}
			if len(s.got) == 2 && !strings.Contains(s.got[1].Messages[3].Content, "Reply again") {
				t.Errorf("retry's correction = %q", s.got[1].Messages[3].Content)
			}
		})
	}
	s := &script{}
	if got, err := (judge.Relative{}).Judge(sdk.JudgeRequest{Traces: []sdk.Trace{{}}}, s.ask); err != nil || !reflect.DeepEqual(got.Scores, []float64{1}) || len(s.got) != 0 {
		t.Errorf("a group of one = %+v, %v after %d asks; want [1] without asking", got, err, len(s.got))
	}
}
