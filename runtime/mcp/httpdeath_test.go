package mcp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolbrain/toolbrain/runtime/mcp"
	"github.com/toolbrain/toolbrain/runtime/mcp/mcptest"
)

// TestHTTP_ServerGoes: an HTTP server that goes away mid-run is a tool
// error naming the server and the tool; the one reconnection fails, and
// from then on its tools answer with that error.
func TestHTTP_ServerGoes(t *testing.T) {
	srv := mcptest.NewServer(mcptest.Options{})
	ts := httptest.NewServer(gomcp.NewStreamableHTTPHandler(func(*http.Request) *gomcp.Server { return srv }, nil))
	s := start(t, mcp.Config{Name: "h", URL: ts.URL, Grant: []string{"echo"}})
	if resp := call(t, s, "h__echo", `{"text":"1"}`); resp.Content != "echo: 1" {
		t.Fatalf("got %+v", resp)
	}
	ts.CloseClientConnections()
	ts.Close()
	for i, want := range []string{
		`mcp server "h" could not be reached during the call of tool "echo"`,
		`mcp server "h" tool "echo": mcp server "h" could not be reached`,
	} {
		resp := call(t, s, "h__echo", `{"text":"2"}`)
		if !resp.IsError || !strings.Contains(resp.Content, want) || !strings.Contains(resp.Content, "restarting it failed") {
			t.Errorf("call %d after the server went: %+v, want %q", i+1, resp, want)
		}
	}
}
