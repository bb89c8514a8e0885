package distill

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/sdk"
)

// answerIs scores 1 for the expected answer, and ranks a group: it sees
// every trace of a task at once.
type answerIs struct{ groups [][]string }

func (a *answerIs) RewardGroup(_ context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	var r sdk.RewardGroupResponse
	var ids []string
	for _, t := range req.Traces {
		ids = append(ids, t.ID)
		s := 0.0
		if t.FinalAnswer == req.Expected {
			s = 1
		}
		r.Scores = append(r.Scores, s)
	}
	a.groups = append(a.groups, ids)
	return r, nil
}

func demo(task, id, answer, errText string) Demo {
	return Demo{Task: sdk.Task{ID: task, Expected: "4"}, Trace: sdk.Trace{ID: id, FinalAnswer: answer, Error: errText},
		Messages: []chattemplate.Message{{Role: "user", Content: "2+2?"}, {Role: "assistant", Content: "<" + answer + ">"}}}
}

// TestScoreKeep: a task's episodes are scored as one group, and the
// threshold keeps those that reach it, in order.
func TestScoreKeep(t *testing.T) {
	demos := []Demo{demo("a", "a-0", "4", ""), demo("a", "a-1", "5", ""), demo("b", "b-0", "", "turn limit"), demo("c", "c-0", "4", "")}
	r := &answerIs{}
	if _, err := Score(context.Background(), &coach.Scorer{Components: []coach.Reward{{Name: "answer", Weight: 2, Reward: r}}}, demos); err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"a-0", "a-1"}, {"b-0"}, {"c-0"}}; !slices.EqualFunc(r.groups, want, slices.Equal) {
		t.Errorf("groups %v, want %v", r.groups, want)
	}
	var rewards []float64
	for _, d := range demos {
		rewards = append(rewards, d.Reward)
	}
	if !slices.Equal(rewards, []float64{2, 0, 0, 2}) {
		t.Errorf("rewards %v", rewards)
	}
	for _, c := range []struct {
		name string
		min  float64
		ids  []string
		st   Stats
	}{
		{"threshold 2", 2, []string{"a-0", "c-0"}, Stats{Tasks: 3, Demos: 4, Kept: 2, Failed: 1, MeanReward: 1, KeptTasks: 2}},
		{"threshold 0 keeps all", 0, []string{"a-0", "a-1", "b-0", "c-0"}, Stats{Tasks: 3, Demos: 4, Kept: 4, Failed: 1, MeanReward: 1, KeptTasks: 3}},
		{"threshold 3 keeps none", 3, nil, Stats{Tasks: 3, Demos: 4, Failed: 1, MeanReward: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			kept, st := Keep(demos, c.min)
			var ids []string
			for _, d := range kept {
				ids = append(ids, d.Trace.ID)
			}
			if !slices.Equal(ids, c.ids) || st != c.st {
				t.Errorf("kept %v %+v, want %v %+v", ids, st, c.ids, c.st)
			}
		})
	}
	b, err := MessagesJSONL(demos[:1])
	if want := `{"messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"<4>"}]}` + "\n"; err != nil || string(b) != want {
		t.Errorf("MessagesJSONL = %q, %v; want %q", b, err, want)
	}
	if _, err := MessagesJSONL([]Demo{{Task: sdk.Task{ID: "ids-only"}}}); err == nil || !strings.Contains(err.Error(), "ids-only") {
		t.Errorf("a demonstration without messages: %v", err)
	}
}

// TestExactExamples: the teacher's ids in context order, the mask on the
// generated ids only; a trace without ids is an error naming its task.
func TestExactExamples(t *testing.T) {
	tr := sdk.Trace{Turns: []sdk.Turn{
		{Tokens: &sdk.TokenSpans{PromptIDs: []int32{1, 2}, GeneratedIDs: []int32{3, 4}, Logprobs: []float32{-1, -1}, ObservationIDs: []int32{5}}},
		{Tokens: &sdk.TokenSpans{PromptIDs: []int32{6}, GeneratedIDs: []int32{7}, Logprobs: []float32{-1}}},
	}}
	ex, err := ExactExamples([]Demo{{Trace: tr}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ex[0].IDs, []int32{1, 2, 3, 4, 5, 6, 7}) || !slices.Equal(ex[0].Mask, []float32{0, 0, 1, 1, 0, 0, 1}) {
		t.Errorf("example %+v", ex[0])
	}
	if _, err := ExactExamples([]Demo{{Task: sdk.Task{ID: "text-only"}, Trace: sdk.Trace{Turns: []sdk.Turn{{Completion: "hi"}}}}}); err == nil || !strings.Contains(err.Error(), "text-only") {
		t.Errorf("a trace without ids: %v", err)
	}
	if _, err := ExactExamples(nil); !errors.Is(err, ErrNoDemos) {
		t.Errorf("no demonstrations: %v", err)
	}
}

func TestSameTokenizer(t *testing.T) {
	tok := func(n int) *tokenizer.Tokenizer {
		t.Helper()
		k, err := tokenizer.NewByteLevel(n, nil)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if err := SameTokenizer(tok(300), tok(300)); err != nil {
		t.Errorf("the same tokenizer: %v", err)
	}
	if err := SameTokenizer(tok(300), tok(290)); !errors.Is(err, ErrTokenizer) || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("another size: %v", err)
	}
}
