package serve_test

import (
	"fmt"
	"os"

	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime/goplugin/serve"
	"github.com/toolbrain/toolbrain/sdk"
)

// The main of a reward plugin. Serve returns only once the host stops the
// process (or at once, for an invalid Plugin), so this example does not run.
func ExampleServe() {
	err := serve.Serve(serve.Plugin{
		Name:   "exact-match",
		Kind:   sdk.KindReward,
		Reward: rewards.ExactMatch{Normalize: true},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
