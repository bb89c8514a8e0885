package schema_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/sdk"
)

type weather struct{}

func (weather) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	return sdk.ToolCallResponse{Content: "sunny in " + string(req.Arguments)}, nil
}

// Checked answers a malformed call for the agent, without calling the tool.
func ExampleChecked() {
	set, err := schema.NewSet([]sdk.ToolSpec{{
		Name: "weather", Description: "Weather in a city.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1}},"required":["city"]}`),
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	tool := schema.Checked(weather{}, set)
	for _, args := range []string{`{"city":"Oslo"}`, `{"city":"Oslo","days":0}`, `{"days":"2"}`} {
		resp, _ := tool.CallTool(context.Background(), sdk.ToolCallRequest{Name: "weather", Arguments: json.RawMessage(args)})
		fmt.Println(resp.IsError, resp.Content)
	}
	// Output:
	// false sunny in {"city":"Oslo"}
	// true invalid arguments for tool "weather": at '/days': minimum: got 0, want 1
	// true invalid arguments for tool "weather": at '': missing property 'city'; at '/days': got string, want integer
}
