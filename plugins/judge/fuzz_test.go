package judge_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/judge"
	"github.com/toolbrain/toolbrain/sdk"
)

// FuzzParseRanking feeds arbitrary model answers: ParseRanking must never
// panic, must fail only with ErrBadRanking and a short message, and must
// return only permutations of 0..n-1, which Scores accepts and the host's
// JudgeResponse.Validate passes, and which read back unchanged from the
// JSON the prompt asks for. Regression inputs live in
// testdata/fuzz/FuzzParseRanking.
func FuzzParseRanking(f *testing.F) {
	f.Add(`{"ranking": [2, 0, 1], "reasoning": "2 is right"}`, 3)
	f.Add("```json\n{\"ranking\":[1,0]}\n```", 2)
	f.Add("[3, 1, 2]", 3)
	f.Add(`{'Ranking': ["0", "1",]}`, 2)
	f.Add(`"ranking": [0, 0]`, 2)
	f.Add(`[-1, 99999999999999999999]`, 2)
	f.Add("no list at all", 4)
	f.Add(`[0]`, 0)
	f.Fuzz(func(t *testing.T, text string, n int) {
		if n < -1 || n > 64 {
			n %= 65
		}
		got, err := judge.ParseRanking(text, n)
		if err != nil {
			if !errors.Is(err, judge.ErrBadRanking) {
				t.Fatalf("error %v does not wrap ErrBadRanking", err)
			}
			if len(err.Error()) > 2048 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if len(got) != n {
			t.Fatalf("ParseRanking(%q, %d) = %v: %d entries", text, n, got, len(got))
		}
		resp := sdk.JudgeResponse{Ranking: got, Scores: judge.Scores(got)}
		if err := resp.Validate(n); err != nil {
			t.Fatalf("ParseRanking(%q, %d) = %v: %v", text, n, got, err)
		}
		b, _ := json.Marshal(map[string][]int{"ranking": got})
		again, err := judge.ParseRanking(string(b), n)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("%s read back as %v, %v", b, again, err)
		}
	})
}

// FuzzParseScores feeds arbitrary answers: ParseScores must never panic,
// must fail only with ErrBadScores, and must return n scores in [0, 1].
func FuzzParseScores(f *testing.F) {
	f.Add(`{"scores": [{"trajectory_id": "1", "score": 0.9}, {"trajectory_id": "2", "score": 0.1}]}`, 2)
	f.Add("```json\n{\"scores\": {\"1\": 0.5}}\n```", 1)
	f.Add(`{"scores": [0.1, "0.2", 3]}`, 3)
	f.Add(`{{{{"scores": [`, 4)
	f.Fuzz(func(t *testing.T, text string, n int) {
		if n < -1 || n > 64 {
			n %= 65
		}
		got, err := judge.ParseScores(text, n)
		if err != nil {
			if !errors.Is(err, judge.ErrBadScores) {
				t.Fatalf("error %v does not wrap ErrBadScores", err)
			}
			return
		}
		if err := (sdk.JudgeResponse{Scores: got}).Validate(n); err != nil {
			t.Fatalf("ParseScores(%q, %d) = %v: %v", text, n, got, err)
		}
		for _, s := range got {
			if s < 0 || s > 1 {
				t.Fatalf("ParseScores(%q, %d) = %v: out of [0, 1]", text, n, got)
			}
		}
	})
}

// FuzzParseVerdict: never a panic, only ErrBadVerdict.
func FuzzParseVerdict(f *testing.F) {
	f.Add(`{"accept": true}`)
	f.Add(`{"accept": "no"} {"accept": 1}`)
	f.Add("Yes!")
	f.Fuzz(func(t *testing.T, text string) {
		if _, err := judge.ParseVerdict(text); err != nil && !errors.Is(err, judge.ErrBadVerdict) {
			t.Fatalf("error %v does not wrap ErrBadVerdict", err)
		}
	})
}
