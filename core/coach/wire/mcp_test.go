package wire_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/coach/wire"
	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/runtime/mcp"
	"github.com/toolbrain/toolbrain/runtime/mcp/mcptest"
)

// TestMain lets the test binary serve as the MCP test server (mcptest).
func TestMain(m *testing.M) {
	mcptest.MaybeServe()
	os.Exit(m.Run())
}

// mcpEntry is a [[mcp]] entry for the test server on stdio.
func mcpEntry(grant string) string {
	return "[[mcp]]\nname = \"t\"\ncommand = [\"" + strings.Join(mcptest.Command(), `", "`) + "\"]\ngrant = " + grant + "\n"
}

// TestOpen_MCP: a [[mcp]] server's granted tools join the packs' for the
// athlete, a granted tool with an invalid schema is a warning naming the
// server and the tool, and a training step runs.
func TestOpen_MCP(t *testing.T) {
	for _, athlete := range []string{"codeact", "tool_calling"} {
		t.Run(athlete, func(t *testing.T) {
			cfg := kit(t, "athlete = \""+athlete+"\"\n"+mcpEntry(`["echo", "add", "bad_schema"]`))
			cfg.Train.System = "" // the default prompt lists the tools
			interp, err := os.ReadFile(filepath.Join(pluginbuild.Dir(t), "interpreter-starlark.wasm"))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			env, err := wire.Open(ctx, cfg, wire.Options{Interpreter: interp}, true)
			if err != nil {
				t.Fatal(err)
			}
			defer env.Close()
			if len(env.Warnings) != 1 || !errors.Is(env.Warnings[0], mcp.ErrBadTool) || !strings.Contains(env.Warnings[0].Error(), `server "t" tool "bad_schema"`) {
				t.Errorf("warnings %v", env.Warnings)
			}
			if athlete == "codeact" {
				for _, want := range []string{"t__echo(", "t__add(", "arith("} {
					if !strings.Contains(env.Agent.System(), want) {
						t.Errorf("the system prompt lacks %s:\n%s", want, env.Agent.System())
					}
				}
				if strings.Contains(env.Agent.System(), "t__hang") {
					t.Error("an ungranted tool is in the system prompt")
				}
			}
			c, _, err := env.NewCoach(1)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Step(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpen_MCPErrors(t *testing.T) {
	for _, c := range []struct{ name, extra, want string }{
		{"grant of a missing tool", mcpEntry(`["nope"]`), `mcp[0]: mcp: grant names a tool the server does not offer: server "t" has no tool "nope"`},
		{"server that does not start", "[[mcp]]\nname = \"t\"\ncommand = [\"/nonexistent/server\"]\ngrant = [\"*\"]\n", `mcp[0]: mcp: server did not start: server "t"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := wire.Open(context.Background(), kit(t, c.extra), wire.Options{}, true)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
