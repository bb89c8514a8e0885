package rewards_test

import (
	"context"
	"fmt"

	"github.com/toolbrain/toolbrain/plugins/rewards"
)

// A reward plugin decodes only the answers from its request and scores them
// with the shared reward code.
func ExampleDecodeHostAnswers() {
	in := []byte(`{"expected":"42 \u20ac","trace":{"final_answer":"42 €","turns":[{"prompt":"…"}]}}`)
	req, err := rewards.DecodeHostAnswers(in)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, _ := rewards.ExactMatch{}.Reward(context.Background(), req)
	fmt.Printf("%q %q %v\n", req.Expected, req.Trace.FinalAnswer, resp.Score)

	_, err = rewards.DecodeAnswers([]byte(`{"expected":42}`))
	fmt.Println(err)
	// Output:
	// "42 €" "42 €" 1
	// rewards: reward request at byte 14: expected must be a string
}
