package agent_test

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/sdk"
)

// Parsing a Hermes-format reply: each <tool_call> block is one call, its
// arguments compacted JSON.
func ExampleParseToolCalls() {
	calls, err := agent.ParseToolCalls(agent.FormatHermes,
		"I will compute it.\n<tool_call>\n{\"name\": \"arith\", \"arguments\": {\"op\": \"mul\", \"a\": 6, \"b\": 7}}\n</tool_call>")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range calls {
		fmt.Println(c.Name, string(c.Arguments))
	}
	// Output: arith {"op":"mul","a":6,"b":7}
}

// What `toolbrain trace show FILE` prints for each trace of a JSONL file.
func ExampleRenderTrace() {
	tr := sdk.Trace{ID: "t0-0", TaskID: "t0", FinalAnswer: "42", Turns: []sdk.Turn{{
		Completion: "```python\nfinal_answer(arith(op='mul', a=6, b=7))\n```",
		Code:       "final_answer(arith(op='mul', a=6, b=7))",
		ToolCalls:  []sdk.ToolCall{{Name: "arith", Arguments: json.RawMessage(`{"a":6,"b":7,"op":"mul"}`)}},
		Tokens:     &sdk.TokenSpans{PromptIDs: []int32{1, 2, 3}, GeneratedIDs: []int32{4, 5}, Logprobs: []float32{-0.5, -0.25}},
	}}}
	agent.RenderTrace(os.Stdout, tr)
	// Output:
	// trace t0-0  task t0
	// 1 turns, 1 tool calls, 5 tokens (2 generated, 3 prompt and observation)
	//
	// ── turn 1 · 3 prompt + 2 generated + 0 observation tokens · mean logprob -0.375
	//   code:
	//     │ final_answer(arith(op='mul', a=6, b=7))
	//   tool call: arith({"a":6,"b":7,"op":"mul"})
	//
	// final answer: "42"
}
