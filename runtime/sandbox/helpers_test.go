package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/sdk"
)

var (
	wasmOnce  sync.Once
	wasmBytes []byte
	wasmErr   error
)

// interpreter returns the module built from source by plugins/build.sh.
func interpreter(tb testing.TB) []byte {
	tb.Helper()
	path := pluginbuild.Path(tb, "interpreter-starlark.wasm")
	wasmOnce.Do(func() { wasmBytes, wasmErr = os.ReadFile(path) })
	if wasmErr != nil {
		tb.Fatal(wasmErr)
	}
	return wasmBytes
}

// cacheDir keeps compiled modules between test runs: compiling the 7 MB
// interpreter takes seconds, loading it from the cache tens of milliseconds.
func cacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "toolbrain-test", "wasm")
	}
	return filepath.Join(os.TempDir(), "toolbrain-test-wasm")
}

// testTools are two Go tools with JSON Schemas: add(a, b) and echo(text).
var testSpecs = []sdk.ToolSpec{
	{Name: "add", Description: "Add two numbers.", Parameters: json.RawMessage(
		`{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"],"additionalProperties":false}`)},
	{Name: "echo", Description: "Repeat text.", Parameters: json.RawMessage(
		`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)},
}

type testTools struct{}

func (testTools) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	switch req.Name {
	case "add":
		var a struct{ A, B float64 }
		if err := json.Unmarshal(req.Arguments, &a); err != nil {
			return sdk.ToolCallResponse{}, err
		}
		sum := a.A + a.B
		return sdk.ToolCallResponse{Content: fmt.Sprint(sum), Data: json.RawMessage(fmt.Sprint(sum))}, nil
	case "echo":
		var a struct{ Text string }
		if err := json.Unmarshal(req.Arguments, &a); err != nil {
			return sdk.ToolCallResponse{}, err
		}
		return sdk.ToolCallResponse{Content: a.Text}, nil
	}
	return sdk.ToolCallResponse{}, fmt.Errorf("no tool %q", req.Name)
}

// newSandbox starts a sandbox on the built interpreter with the test tools,
// validated by runtime/schema.
func newSandbox(tb testing.TB, o Options) *Sandbox {
	tb.Helper()
	set, err := schema.NewSet(testSpecs)
	if err != nil {
		tb.Fatal(err)
	}
	o.Interpreter = interpreter(tb)
	o.CacheDir = cacheDir()
	o.ToolSpecs, o.Tools = testSpecs, schema.Checked(testTools{}, set)
	s, err := New(context.Background(), o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close(context.Background()) })
	return s
}
