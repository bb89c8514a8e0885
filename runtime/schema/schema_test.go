package schema_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/sdk"
)

// reference is testdata/reference.json, made by the Python jsonschema
// package (see testdata/make_reference.py).
type reference struct {
	Generator string `json:"generator"`
	Cases     []struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Args   json.RawMessage `json:"args"`
		Valid  bool            `json:"valid"`
		Paths  []string        `json:"paths"`
	} `json:"cases"`
}

func loadReference(t testing.TB) reference {
	t.Helper()
	data, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestValidator_Reference compares every verdict, and the offending paths
// where the reference records them, with the Python implementation.
func TestValidator_Reference(t *testing.T) {
	ref := loadReference(t)
	if len(ref.Cases) < 40 {
		t.Fatalf("reference has %d cases", len(ref.Cases))
	}
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			v, err := schema.Compile("t", c.Schema)
			if err != nil {
				t.Fatal(err)
			}
			err = v.Validate(c.Args)
			if got := err == nil; got != c.Valid {
				t.Fatalf("valid = %v (%v), %s says %v for %s", got, err, ref.Generator, c.Valid, c.Args)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, schema.ErrInvalidArguments) {
				t.Fatalf("error %v does not match ErrInvalidArguments", err)
			}
			var se *schema.Error
			if !errors.As(err, &se) || len(se.Problems) == 0 {
				t.Fatalf("error %v is not a *schema.Error with problems", err)
			}
			if c.Paths == nil {
				return
			}
			var paths []string
			for _, p := range se.Problems {
				if !slices.Contains(paths, p.Path) {
					paths = append(paths, p.Path)
				}
			}
			slices.Sort(paths)
			if !slices.Equal(paths, c.Paths) {
				t.Errorf("paths %q, reference %q (%v)", paths, c.Paths, err)
			}
		})
	}
}

func TestValidator_Messages(t *testing.T) {
	params := json.RawMessage(`{"type":"object","properties":{"op":{"enum":["add","sub"]},"a":{"type":"number"}},"required":["op","a"],"additionalProperties":false}`)
	v, err := schema.Compile("arith", params)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args string
		want []string // substrings of the message
	}{
		{name: "wrong type", args: `{"op":"add","a":"1"}`, want: []string{`tool "arith"`, "at '/a'", "got string, want number"}},
		{name: "missing", args: `{"a":1}`, want: []string{"at ''", "missing property 'op'"}},
		{name: "enum", args: `{"op":"pow","a":1}`, want: []string{"at '/op'", "'add'", "'sub'"}},
		{name: "extra", args: `{"op":"add","a":1,"zz":1}`, want: []string{"additional properties 'zz' not allowed"}},
		{name: "not json", args: `{"op":`, want: []string{"not valid JSON"}},
		{name: "not object", args: `[1]`, want: []string{"got array, want object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Validate(json.RawMessage(tt.args))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCompile_Errors(t *testing.T) {
	tests := []struct {
		name   string
		schema string
	}{
		{name: "not json", schema: `{"type":`},
		{name: "bad type keyword", schema: `{"type":"strung"}`},
		{name: "bad minimum", schema: `{"minimum":"x"}`},
		{name: "external ref", schema: `{"$ref":"file:///etc/passwd"}`},
		{name: "remote ref", schema: `{"$ref":"https://example.com/s.json"}`},
		{name: "dangling ref", schema: `{"$ref":"#/$defs/nope"}`},
		{name: "bad pattern", schema: `{"pattern":"("}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := schema.Compile("t", json.RawMessage(tt.schema))
			if !errors.Is(err, schema.ErrBadSchema) {
				t.Fatalf("err = %v, want ErrBadSchema", err)
			}
			if !strings.Contains(err.Error(), `"t"`) {
				t.Errorf("error %q does not name the tool", err)
			}
		})
	}
}

func TestCompile_NoParameters(t *testing.T) {
	for _, params := range []string{"", "null", " "} {
		v, err := schema.Compile("t", json.RawMessage(params))
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Validate(json.RawMessage(`{"x":1}`)); err != nil {
			t.Errorf("%q: object refused: %v", params, err)
		}
		if err := v.Validate(nil); err != nil {
			t.Errorf("%q: empty arguments refused: %v", params, err)
		}
		if err := v.Validate(json.RawMessage(`3`)); !errors.Is(err, schema.ErrInvalidArguments) {
			t.Errorf("%q: number accepted: %v", params, err)
		}
	}
}

func TestNewSet_Errors(t *testing.T) {
	tests := []struct {
		name  string
		specs []sdk.ToolSpec
	}{
		{name: "no name", specs: []sdk.ToolSpec{{Description: "x"}}},
		{name: "duplicate", specs: []sdk.ToolSpec{{Name: "a"}, {Name: "a"}}},
		{name: "bad schema", specs: []sdk.ToolSpec{{Name: "a", Parameters: json.RawMessage(`{"type":1}`)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := schema.NewSet(tt.specs); !errors.Is(err, schema.ErrBadSchema) {
				t.Fatalf("err = %v, want ErrBadSchema", err)
			}
		})
	}
}

// echo is a tool that records whether it was called.
type echo struct {
	mu    sync.Mutex
	calls int
}

func (e *echo) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	e.mu.Lock()
	e.calls++
	e.mu.Unlock()
	return sdk.ToolCallResponse{Content: string(req.Arguments)}, nil
}

func TestChecked(t *testing.T) {
	set, err := schema.NewSet([]sdk.ToolSpec{{Name: "get", Parameters: json.RawMessage(`{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}`)}})
	if err != nil {
		t.Fatal(err)
	}
	inner := &echo{}
	tool := schema.Checked(inner, set)
	tests := []struct {
		name     string
		req      sdk.ToolCallRequest
		wantErr  bool
		contains string
	}{
		{name: "ok", req: sdk.ToolCallRequest{Name: "get", Arguments: json.RawMessage(`{"id":3}`)}, contains: `{"id":3}`},
		{name: "bad", req: sdk.ToolCallRequest{Name: "get", Arguments: json.RawMessage(`{"id":"3"}`)}, wantErr: true, contains: "got string, want integer"},
		{name: "unknown", req: sdk.ToolCallRequest{Name: "put"}, wantErr: true, contains: `unknown tool "put"; available tools: get`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := inner.calls
			resp, err := tool.CallTool(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.IsError != tt.wantErr || !strings.Contains(resp.Content, tt.contains) {
				t.Errorf("resp = %+v, want is_error %v containing %q", resp, tt.wantErr, tt.contains)
			}
			if called := inner.calls > before; called == tt.wantErr {
				t.Errorf("inner tool called = %v with invalid = %v", called, tt.wantErr)
			}
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	v, err := schema.Compile("arith", json.RawMessage(`{"type":"object","properties":{"op":{"enum":["add","sub","mul","div"]},"a":{"type":"number"},"b":{"type":"number"}},"required":["op","a","b"],"additionalProperties":false}`))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, args string }{
		{"valid", `{"op":"add","a":1.5,"b":2}`},
		{"invalid", `{"op":"pow","a":"x"}`},
	} {
		args := json.RawMessage(bc.args)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = v.Validate(args)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	params := json.RawMessage(`{"type":"object","properties":{"op":{"enum":["add","sub","mul","div"]},"a":{"type":"number"},"b":{"type":"number"}},"required":["op","a","b"],"additionalProperties":false}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := schema.Compile("arith", params); err != nil {
			b.Fatal(err)
		}
	}
}
