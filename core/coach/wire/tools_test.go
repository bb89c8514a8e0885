package wire_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/toolbrain/toolbrain/core/coach/wire"
	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/sdk"
)

// shout is an in-process tool that counts the calls reaching it.
type shout struct{ calls atomic.Int32 }

func (s *shout) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	s.calls.Add(1)
	var args struct{ Text string }
	if err := json.Unmarshal(req.Arguments, &args); err != nil {
		return sdk.ToolCallResponse{}, err
	}
	return sdk.ToolCallResponse{Content: strings.ToUpper(args.Text)}, nil
}

var shoutSpecs = []sdk.ToolSpec{{Name: "shout", Description: "Upper-case a text.",
	Parameters: json.RawMessage(`{"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"], "additionalProperties": false}`)}}

// TestOpen_InProcessToolsChecked: Open checks the arguments of in-process
// tools (Options.Tools) against their specs, so that a bad call never
// reaches the tool and gets the same answer from Env.Tool (what a
// tool-calling athlete calls) and inside a CodeAct sandbox; a good call
// goes through.
func TestOpen_InProcessToolsChecked(t *testing.T) {
	interp, err := os.ReadFile(filepath.Join(pluginbuild.Dir(t), "interpreter-starlark.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bad := sdk.ToolCallRequest{Name: "shout", Arguments: json.RawMessage(`{"text": 3}`)}
	answers := map[string]string{} // athlete → the bad call's answer
	for _, athlete := range []string{"codeact", "tool_calling"} {
		t.Run(athlete, func(t *testing.T) {
			tool := &shout{}
			cfg := kit(t, "athlete = \""+athlete+"\"\n")
			cfg.Train.System = "" // the default prompt lists the tools
			env, err := wire.Open(ctx, cfg, wire.Options{Interpreter: interp, Tools: tool, ToolSpecs: shoutSpecs}, true)
			if err != nil {
				t.Fatal(err)
			}
			defer env.Close()
			resp, err := env.Tool.CallTool(ctx, bad)
			if err != nil || !resp.IsError || !strings.Contains(resp.Content, `invalid arguments for tool "shout"`) || !strings.Contains(resp.Content, "/text") {
				t.Fatalf("bad call: %+v, %v; want the schema's refusal", resp, err)
			}
			answers[athlete] = resp.Content
			if athlete == "codeact" {
				if !strings.Contains(env.Agent.System(), "shout(") {
					t.Errorf("the system prompt lacks shout:\n%s", env.Agent.System())
				}
				ep, err := env.Sandbox.Start(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer ep.Close()
				res, err := ep.Run(ctx, "shout(text=3)")
				if err != nil {
					t.Fatal(err)
				}
				if len(res.ToolCalls) != 1 || !res.ToolCalls[0].IsError || res.ToolCalls[0].Content != resp.Content {
					t.Errorf("in the sandbox: tool calls %+v, want one answered %q", res.ToolCalls, resp.Content)
				}
			}
			if n := tool.calls.Load(); n != 0 {
				t.Errorf("the tool ran %d times on bad arguments", n)
			}
			good, err := env.Tool.CallTool(ctx, sdk.ToolCallRequest{Name: "shout", Arguments: json.RawMessage(`{"text": "hi"}`)})
			if err != nil || good.IsError || good.Content != "HI" || tool.calls.Load() != 1 {
				t.Errorf("good call: %+v, %v, %d calls", good, err, tool.calls.Load())
			}
		})
	}
	if answers["codeact"] != answers["tool_calling"] {
		t.Errorf("answers differ: %q (codeact), %q (tool_calling)", answers["codeact"], answers["tool_calling"])
	}
}

func TestOpen_InProcessToolErrors(t *testing.T) {
	badSchema := []sdk.ToolSpec{{Name: "shout", Parameters: json.RawMessage(`{"type": 3}`)}}
	for _, c := range []struct {
		name string
		o    wire.Options
		want string
	}{
		{"specs without a tool", wire.Options{ToolSpecs: shoutSpecs}, "without Options.Tools"},
		{"invalid schema", wire.Options{Tools: &shout{}, ToolSpecs: badSchema}, "Options.ToolSpecs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := wire.Open(context.Background(), kit(t, "athlete = \"tool_calling\"\n"), c.o, true)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
