package algorithms_test

import (
	"context"
	"fmt"

	"github.com/toolbrain/toolbrain/plugins/algorithms"
	"github.com/toolbrain/toolbrain/sdk"
)

// The coach builds the configured algorithm once and calls it every step
// with the rewards of each task's group.
func ExampleFromConfig() {
	alg, err := algorithms.FromConfig(algorithms.Config{Name: "grpo", ScaleRewards: algorithms.ScaleGroup})
	if err != nil {
		panic(err)
	}
	resp, err := alg.Advantages(context.Background(), sdk.AdvantageRequest{Groups: []sdk.Group{
		{Rewards: []float64{1, 0, 0, 1}, Lengths: []int{12, 30, 7, 20}},
		{Rewards: []float64{1, 1}, Lengths: []int{9, 9}}, // all equal: no signal
	}})
	if err != nil {
		panic(err)
	}
	for _, a := range resp.Advantages {
		fmt.Printf("%.4f\n", a)
	}
	// Output:
	// [0.8659 -0.8659 -0.8659 0.8659]
	// [0.0000 0.0000]
}

// DPO takes the best trace of each group against the worst; a group of ties
// gives no pair.
func ExampleDPOPairs() {
	resp, _ := algorithms.DPOPairs{}.Advantages(context.Background(), sdk.AdvantageRequest{Groups: []sdk.Group{
		{Rewards: []float64{0.2, 0.9, 0.1}, Lengths: []int{5, 5, 5}},
		{Rewards: []float64{0.5, 0.5}, Lengths: []int{5, 5}},
	}})
	fmt.Printf("%+v\n", resp.Pairs)
	// Output: [{Group:0 Chosen:1 Rejected:2}]
}
