package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/runtime/mcp/mcptest"
)

// TestMain lets the test binary serve as the MCP test server (mcptest).
func TestMain(m *testing.M) {
	mcptest.MaybeServe()
	os.Exit(m.Run())
}

func TestMCPList(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "toolbrain.toml")
	src := "[[mcp]]\nname = \"t\"\ncommand = [\"" + strings.Join(mcptest.Command(), `", "`) + "\"]\ngrant = [\"echo\", \"add\", \"bad_schema\", \"missing\"]\n"
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustTB(t, "mcp", "list", "t", "--config", cfg)
	for _, want := range []string{
		"t: ", "2 granted and usable",
		"t__echo(text)", "granted", "Echo the text back.",
		"t__add(a, b)", "t__hang()", "not granted",
		`t__bad_schema(x)`, "UNUSABLE (below)", `mcp: unusable tool: server "t" tool "bad_schema": invalid input schema`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("mcp list output lacks %q:\n%s", want, out)
		}
	}
	var tools []mcpToolJSON
	if err := json.Unmarshal([]byte(mustTB(t, "mcp", "list", "t", "--config", cfg, "--json")), &tools); err != nil {
		t.Fatal(err)
	}
	var echo *mcpToolJSON
	for i := range tools {
		if tools[i].Name == "echo" {
			echo = &tools[i]
		}
	}
	if echo == nil || !echo.Granted || echo.CalledAs != "t__echo" || !strings.Contains(string(echo.Parameters), `"text"`) {
		t.Errorf("--json echo: %+v", echo)
	}

	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown server", []string{"mcp", "list", "nope", "--config", cfg}, 1, `no [[mcp]] server named "nope" (servers: t)`},
		{"no name", []string{"mcp", "list", "--config", cfg}, 2, "want exactly one server NAME"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := tb(t, c.args...)
			if code != c.code || !strings.Contains(errs, c.msg) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, errs, c.code, c.msg)
			}
		})
	}
}
