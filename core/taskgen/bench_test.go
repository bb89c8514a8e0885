package taskgen_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/toolbrain/toolbrain/core/taskgen"
)

// BenchmarkRun checks n distinct questions in one scope without numbers,
// so that each is compared with every kept one (the near-duplicate
// check's worst case; no two are near-duplicates at the default 0.85),
// each answered by one in-process call.
func BenchmarkRun(b *testing.B) {
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"}
	for _, n := range []int{100, 1000} {
		var cands fixed
		for i := range n {
			q := fmt.Sprintf("Which a%s b%s c%s is the capital of Italy?", words[i%16], words[(i/16)%16], words[(i/256)%16])
			cands = append(cands, taskgen.Candidate{Question: q, Answer: "Rome", Calls: call("capital", `{"country":"italy"}`), Difficulty: taskgen.Easy})
		}
		b.Run(fmt.Sprint("n=", n), func(b *testing.B) {
			for b.Loop() {
				res, err := taskgen.Run(context.Background(), taskgen.Options{Generator: cands, Specs: calcSpecs, Tools: &calc{}, N: n, MaxRounds: 1})
				if err != nil || res.Summary.Kept != n {
					b.Fatalf("%s: %v", res.Summary, err)
				}
			}
		})
	}
}
