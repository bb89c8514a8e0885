package algorithms_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/toolbrain/toolbrain/sdk"
)

// benchBatch is groups groups of 8 traces, the default group size.
func benchBatch(groups int) sdk.AdvantageRequest {
	r := rand.New(rand.NewPCG(3, 4))
	req := sdk.AdvantageRequest{Groups: make([]sdk.Group, groups)}
	for g := range req.Groups {
		grp := sdk.Group{Rewards: make([]float64, 8), Lengths: make([]int, 8)}
		for i := range 8 {
			grp.Rewards[i] = r.Float64()
			grp.Lengths[i] = 1 + r.IntN(512)
		}
		req.Groups[g] = grp
	}
	return req
}

// BenchmarkAdvantages times each algorithm on one group of 8 and on a batch
// of 64 groups of 8.
func BenchmarkAdvantages(b *testing.B) {
	ctx := context.Background()
	for _, groups := range []int{1, 64} {
		req := benchBatch(groups)
		for name, a := range allAlgorithms() {
			b.Run(fmt.Sprintf("%s/groups=%d", name, groups), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := a.Advantages(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
