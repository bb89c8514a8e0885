package sandbox_test

import (
	"context"
	"fmt"

	"github.com/toolbrain/toolbrain/runtime/sandbox"
)

// A CodeAct episode: two turns share their variables; the code's errors come
// back as the observation for the model.
func Example() {
	ctx := context.Background()
	s, err := sandbox.New(ctx, sandbox.Options{}) // the embedded Starlark interpreter
	if err != nil {
		fmt.Println(err) // e.g. sandbox.ErrNoInterpreter before plugins/build.sh
		return
	}
	defer s.Close(ctx)
	ep, err := s.Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ep.Close()
	for _, code := range []string{
		"prices = [3.5, 4.25]\nprint(f'{sum(prices):.2f}')",
		"print(totl)",
		"final_answer(round(sum(prices)))",
	} {
		r, err := ep.Run(ctx, code)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("observation: %q\n", r.Observation())
		if r.FinalAnswer != nil {
			fmt.Println("answer:", *r.FinalAnswer)
		}
	}
}
