package judge_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/judge"
)

func TestParseRanking(t *testing.T) {
	tests := []struct {
		name string
		text string
		n    int
		want []int
	}{
		{name: "json object", text: `{"ranking": [2, 0, 1]}`, n: 3, want: []int{2, 0, 1}},
		{name: "with reasoning", text: `{"ranking":[1,0],"reasoning":"1 is correct"}`, n: 2, want: []int{1, 0}},
		{name: "code fence and prose", text: "Here you go:\n```json\n{\"ranking\": [1, 0, 2]}\n```\nHope this helps.", n: 3, want: []int{1, 0, 2}},
		{name: "reasoning before ranking", text: `{"reasoning": "trajectory 2 answers 42, [0] fails", "ranking": [2, 0, 1]}`, n: 3, want: []int{2, 0, 1}},
		{name: "reasoning cut by the token limit", text: `{"ranking": [0, 2, 1], "reasoning": "Trajectory 0 is the only one th`, n: 3, want: []int{0, 2, 1}},
		{name: "bare list", text: "[2,0,1]", n: 3, want: []int{2, 0, 1}},
		{name: "bare list in prose", text: "My ranking, best first:\n[1, 2, 0]", n: 3, want: []int{1, 2, 0}},
		{name: "last bare list wins", text: "Considering [0, 1, 2] in order, the answer is [2, 1, 0].", n: 3, want: []int{2, 1, 0}},
		{name: "ranking key wins over a later list", text: `{"ranking": [1, 0]} (trajectory [0] had an error)`, n: 2, want: []int{1, 0}},
		{name: "last ranking key wins", text: `First guess "ranking": [0, 1]; final: {"ranking": [1, 0]}`, n: 2, want: []int{1, 0}},
		{name: "one-based object", text: `{"ranking": [3, 1, 2]}`, n: 3, want: []int{2, 0, 1}},
		{name: "one-based bare list", text: "[2, 1]", n: 2, want: []int{1, 0}},
		{name: "one trace zero-based", text: "[0]", n: 1, want: []int{0}},
		{name: "one trace one-based", text: `{"ranking":[1]}`, n: 1, want: []int{0}},
		{name: "quoted numbers", text: `{"ranking": ["1", "0", "2"]}`, n: 3, want: []int{1, 0, 2}},
		{name: "python dict", text: `{'ranking': [1, 0]}`, n: 2, want: []int{1, 0}},
		{name: "yaml-ish key", text: "Ranking: [0, 1]\nReasoning: both fine", n: 2, want: []int{0, 1}},
		{name: "trailing comma and newlines", text: "{\"ranking\": [\n  1,\n  0,\n]}", n: 2, want: []int{1, 0}},
		{name: "upper-case key", text: `{"RANKING": [1, 0]}`, n: 2, want: []int{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := judge.ParseRanking(tt.text, tt.n)
			if err != nil {
				t.Fatalf("ParseRanking(%q, %d): %v", tt.text, tt.n, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRanking(%q, %d) = %v, want %v", tt.text, tt.n, got, tt.want)
			}
		})
	}
}

func TestParseRanking_Errors(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		n       int
		mention []string // substrings of the error
	}{
		{name: "empty", text: "", n: 2, mention: []string{"no list of trace indices", `""`}},
		{name: "prose only", text: "Trajectory 2 is best, then 0, then 1.", n: 3, mention: []string{"no list", "Trajectory 2 is best"}},
		{name: "list of words", text: `{"ranking": ["best", "worst"]}`, n: 2, mention: []string{"no list"}},
		{name: "repeated", text: `{"ranking": [0, 0, 1]}`, n: 3, mention: []string{"0 repeated", "2 missing", "not a permutation of 0..2"}},
		{name: "out of range", text: `{"ranking": [0, 1, 5]}`, n: 3, mention: []string{"5 out of range 0..2", "2 missing"}},
		{name: "negative", text: `[1, -1]`, n: 2, mention: []string{"-1 out of range 0..1", "0 missing"}},
		{name: "too short", text: `{"ranking": [1, 0]}`, n: 3, mention: []string{"2 missing"}},
		{name: "too long", text: `{"ranking": [1, 0, 2, 3]}`, n: 3, mention: []string{"3 out of range"}},
		{name: "empty list", text: `{"ranking": []}`, n: 2, mention: []string{"0, 1 missing"}},
		{name: "one-based with a repeat", text: `{"ranking": [3, 3, 1]}`, n: 3, mention: []string{"read 1-based", "3 repeated", "2 missing"}},
		{name: "both 0 and n", text: `{"ranking": [3, 0, 1]}`, n: 3, mention: []string{"not a permutation of 0..2", "3 out of range"}},
		{name: "huge number", text: `[` + strings.Repeat("9", 40) + `, 0]`, n: 2, mention: []string{"out of range 0..1"}},
		{name: "invalid last list not rescued by an earlier one", text: "[0, 1] ... final [1, 1]", n: 2, mention: []string{"1 repeated"}},
		{name: "no traces", text: "[0]", n: 0, mention: []string{"a ranking of 0 traces"}},
		{name: "too many traces", text: "[0]", n: judge.MaxTraces + 1, mention: []string{"want 1..1024"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := judge.ParseRanking(tt.text, tt.n)
			if err == nil {
				t.Fatalf("ParseRanking(%q, %d) = %v, want an error", tt.text, tt.n, got)
			}
			if !errors.Is(err, judge.ErrBadRanking) {
				t.Errorf("err = %v, want judge.ErrBadRanking", err)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("err = %v, want it to mention %q", err, m)
				}
			}
		})
	}
}

// A very long answer is quoted, not copied, into the error.
func TestParseRanking_LongAnswerClipped(t *testing.T) {
	_, err := judge.ParseRanking(strings.Repeat("blah ", 10000), 2)
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("err = %.500v (%d bytes), want a short error", err, len(fmt.Sprint(err)))
	}
}

func TestScores(t *testing.T) {
	tests := []struct {
		name    string
		ranking []int
		want    []float64
	}{
		{name: "empty", ranking: []int{}, want: []float64{}},
		{name: "one", ranking: []int{0}, want: []float64{1}},
		{name: "two", ranking: []int{1, 0}, want: []float64{0, 1}},
		{name: "three", ranking: []int{2, 0, 1}, want: []float64{0.5, 0, 1}},
		{name: "five", ranking: []int{4, 3, 2, 1, 0}, want: []float64{0, 0.25, 0.5, 0.75, 1}},
		{name: "identity", ranking: []int{0, 1, 2, 3}, want: []float64{1, 2.0 / 3, 1.0 / 3, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := judge.Scores(tt.ranking); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Scores(%v) = %v, want %v", tt.ranking, got, tt.want)
			}
		})
	}
}

// Exactly 1 for the best and 0 for the worst, for every group size.
func TestScores_Ends(t *testing.T) {
	for n := 2; n <= 64; n++ {
		ranking := make([]int, n)
		for i := range ranking {
			ranking[i] = n - 1 - i
		}
		s := judge.Scores(ranking)
		if s[n-1] != 1 || s[0] != 0 {
			t.Fatalf("n=%d: best %v worst %v, want 1 and 0", n, s[n-1], s[0])
		}
		for i := 1; i < n; i++ {
			if s[i] <= s[i-1] {
				t.Fatalf("n=%d: scores %v not increasing with rank", n, s)
			}
		}
	}
}

func TestScores_PanicsOnNonPermutation(t *testing.T) {
	for _, ranking := range [][]int{{0, 0}, {1, 2}, {-1, 0}} {
		t.Run(fmt.Sprint(ranking), func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), "not a permutation") {
					t.Errorf("recover() = %v, want a panic naming the bad ranking", r)
				}
			}()
			judge.Scores(ranking)
		})
	}
}
