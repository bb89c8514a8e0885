package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/toolbrain/toolbrain/sdk"
)

// whoami answers with the inbox of the episode's task, as the email pack
// does, and scribbles on the request's metadata to check that the episode's
// copy stays intact.
type whoami struct{}

func (whoami) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	if req.Task == nil {
		return sdk.ToolCallResponse{Content: "no task"}, nil
	}
	inbox := req.Task.Metadata["inbox"]
	req.Task.Metadata["inbox"] = "scribbled"
	return sdk.ToolCallResponse{Content: req.Task.ID + ":" + inbox}, nil
}

func TestSandbox_StartTask(t *testing.T) {
	spec := sdk.ToolSpec{Name: "whoami", Description: "Say the task.", Parameters: json.RawMessage(
		`{"type":"object","properties":{"task":{"type":"object"}}}`)}
	s, err := New(context.Background(), Options{
		Interpreter: interpreter(t), CacheDir: cacheDir(),
		ToolSpecs: []sdk.ToolSpec{spec}, Tools: whoami{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())

	tests := []struct {
		name string
		task *sdk.Task
		code string
		want string
	}{
		{name: "no task", code: "print(whoami())", want: "no task\n"},
		{name: "bound", task: &sdk.Task{ID: "t1", Metadata: map[string]string{"inbox": "ib01"}},
			code: "print(whoami())\nprint(whoami())", want: "t1:ib01\nt1:ib01\n"},
		// The interpreter sends only name and arguments, but an argument
		// named task must not stand in for the episode's.
		{name: "code cannot choose", task: &sdk.Task{ID: "t2", Metadata: map[string]string{"inbox": "ib02"}},
			code: `print(whoami(task={"id": "x", "metadata": {"inbox": "ib09"}}))`, want: "t2:ib02\n"},
	}
	var wg sync.WaitGroup
	for _, tt := range tests {
		wg.Go(func() {
			ctx := context.Background()
			e, err := s.StartTask(ctx, tt.task)
			if err != nil {
				t.Error(err)
				return
			}
			defer e.Close()
			r, err := e.Run(ctx, tt.code)
			if err != nil || r.Err != nil || r.Output != tt.want {
				t.Errorf("%s: output %q err %v %v, want %q", tt.name, r.Output, err, r.Err, tt.want)
			}
		})
	}
	wg.Wait()
	if got := fmt.Sprint(tests[1].task.Metadata); got != "map[inbox:ib01]" {
		t.Errorf("the caller's task changed: %s", got)
	}
}
