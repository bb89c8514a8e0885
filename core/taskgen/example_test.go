package taskgen_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/toolbrain/toolbrain/core/taskgen"
	"github.com/toolbrain/toolbrain/sdk"
)

// temperature is a tool: the temperature of a city.
type temperature struct{}

func (temperature) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	var a struct{ City string }
	if err := json.Unmarshal(req.Arguments, &a); err != nil {
		return sdk.ToolCallResponse{Content: err.Error(), IsError: true}, nil
	}
	return sdk.ToolCallResponse{Content: fmt.Sprintf("%d C", 10+len(a.City))}, nil
}

// Writing tasks for one tool with the scripted generator: the arguments
// come from the schema (here its enum), the gold answers from the tool.
func ExampleRun() {
	specs := []sdk.ToolSpec{{
		Name:        "temperature",
		Description: "The temperature of a city.",
		Parameters:  json.RawMessage(`{"type": "object", "properties": {"city": {"enum": ["oslo", "rome", "lisbon"]}}, "required": ["city"]}`),
	}}
	tool := temperature{}
	res, err := taskgen.Run(context.Background(), taskgen.Options{
		Generator: &taskgen.Scripted{Tools: tool}, Specs: specs, Tools: tool, N: 3, Seed: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range res.Tasks {
		fmt.Printf("%s %q → %q\n", t.ID, t.Prompt, t.Expected)
	}
	fmt.Println(res.Summary)
	// Output:
	// gen-0001 "What does temperature return for city = \"rome\"?" → "14 C"
	// gen-0002 "What does temperature return for city = \"lisbon\"?" → "16 C"
	// gen-0003 "What does temperature return for city = \"oslo\"?" → "14 C"
	// kept 3 of 4 proposed (wanted 3) in 2 rounds; rejected: duplicate 1
}
