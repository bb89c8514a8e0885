package wire

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/toolbrain/toolbrain/core/retrieval"
	"github.com/toolbrain/toolbrain/sdk"
)

// recorder answers every call with "ok" and remembers the names.
type recorder struct{ names []string }

func (r *recorder) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	r.names = append(r.names, req.Name)
	return sdk.ToolCallResponse{Content: "ok"}, nil
}

func TestTaskTools_Only(t *testing.T) {
	specs := []sdk.ToolSpec{
		{Name: "sqrt", Description: "Square root of a number.", Parameters: json.RawMessage(`{"type":"object"}`)},
		{Name: "arith", Description: "Add, subtract, multiply or divide two numbers."},
	}
	ix, err := retrieval.New(context.Background(), specs, retrieval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &taskTools{ix: ix, k: 1, byTask: map[string][]sdk.ToolSpec{}}
	rec := &recorder{}
	tool := s.Only(rec)
	root := &sdk.Task{ID: "r", Prompt: "the square root of 81"}
	tests := []struct {
		name    string
		task    *sdk.Task
		call    string
		refused bool
	}{
		{name: "selected tool", task: root, call: "sqrt"},
		{name: "tool of another task", task: root, call: "arith", refused: true},
		{name: "no task stamped", task: nil, call: "arith"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.names)
			resp, err := tool.CallTool(context.Background(), sdk.ToolCallRequest{Name: tt.call, Task: tt.task})
			if err != nil {
				t.Fatal(err)
			}
			reached := len(rec.names) > before
			if resp.IsError != tt.refused || reached == tt.refused {
				t.Errorf("response %+v, reached the tool: %v; want refused = %v", resp, reached, tt.refused)
			}
		})
	}
	if len(s.byTask) != 1 {
		t.Errorf("%d selections cached, want 1 (one task)", len(s.byTask))
	}
	var none *taskTools
	if none.Only(rec) != sdk.Tool(rec) {
		t.Error("a nil selection must leave the tools as they are")
	}
}
