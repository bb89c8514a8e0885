package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/toolbrain/toolbrain/plugins/rewards"
	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/sdk"
)

type panicky struct{}

func (panicky) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	switch req.Name {
	case "panic":
		var m map[string]int
		//lint:ignore SA5000 the point: a real nil-map write, not a panic(...) call
		m["x"] = 1 // a nil-map write: a real bug, not a panic(...) call
	case "fail":
		return sdk.ToolCallResponse{}, errors.New("no route to mailbox")
	}
	return sdk.ToolCallResponse{Content: req.Name}, nil
}

func TestNewServer_Errors(t *testing.T) {
	tests := []struct {
		name string
		p    Plugin
		text string
	}{
		{name: "no name", p: Plugin{Kind: sdk.KindTool, Tool: panicky{}}, text: "no name"},
		{name: "unknown kind", p: Plugin{Name: "x", Kind: "oracle", Tool: panicky{}}, text: `unknown kind "oracle"`},
		{name: "no implementation of its kind", p: Plugin{Name: "x", Kind: sdk.KindReward, Tool: panicky{}}, text: "no reward implementation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewServer(tt.p)
			if !errors.Is(err, ErrBadPlugin) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want ErrBadPlugin with %q", err, tt.text)
			}
			if err := Serve(tt.p); !errors.Is(err, ErrBadPlugin) {
				t.Fatalf("Serve: err = %v, want ErrBadPlugin before serving", err)
			}
		})
	}
}

func TestServer_InfoAndCall(t *testing.T) {
	var got map[string]string
	s, err := NewServer(Plugin{Name: "mix", Version: "2.3.4", Kind: sdk.KindReward, Reward: rewards.TokenF1{}, Tool: panicky{},
		Configure: func(c map[string]string) error { got = c; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	info, err := wireOf(s).Info(ctx, &pb.InfoRequest{HostSdkVersion: sdk.Version, Config: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.InfoResponse{Name: "mix", Version: "2.3.4", Kind: "reward", SdkVersion: sdk.Version, Functions: []string{sdk.ToolFunction, sdk.RewardFunction}, Stream: true}
	if info.String() != want.String() || got["k"] != "v" {
		t.Fatalf("info %v (config %v), want %v", info, got, want)
	}

	in, _ := json.Marshal(sdk.RewardRequest{Expected: "the cat sat", Trace: sdk.Trace{FinalAnswer: "a cat sat down"}})
	resp, err := wireOf(s).Call(ctx, &pb.CallRequest{Kind: "reward", Function: sdk.RewardFunction, Input: in})
	if err != nil || resp.GetError() != "" {
		t.Fatal(err, resp.GetError())
	}
	var r sdk.RewardResponse
	if err := json.Unmarshal(resp.GetOutput(), &r); err != nil || r.Score != rewards.F1("a cat sat down", "the cat sat") {
		t.Fatalf("reward %s: %v", resp.GetOutput(), err)
	}

	tests := []struct {
		name     string
		function string
		input    string
		code     codes.Code
		text     string
	}{
		{name: "unserved function", function: sdk.JudgeFunction, input: `{}`, code: codes.Unimplemented, text: `does not serve function "judge"`},
		{name: "bad JSON", function: sdk.RewardFunction, input: `{"trace": 3}`, text: "sdk: invalid request"},
		{name: "not JSON", function: sdk.ToolFunction, input: `\x00`, text: "sdk: invalid request"},
		{name: "implementation error", function: sdk.ToolFunction, input: `{"name": "fail"}`, text: "no route to mailbox"},
		{name: "panic recovered", function: sdk.ToolFunction, input: `{"name": "panic"}`, text: "panic: assignment to entry in nil map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := wireOf(s).Call(ctx, &pb.CallRequest{Function: tt.function, Input: []byte(tt.input)})
			if tt.code != codes.OK {
				if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.text) {
					t.Fatalf("err = %v, want code %v with %q", err, tt.code, tt.text)
				}
				return
			}
			if err != nil || !strings.Contains(resp.GetError(), tt.text) {
				t.Fatalf("err %v, response error %q, want %q", err, resp.GetError(), tt.text)
			}
		})
	}

	bad, _ := NewServer(Plugin{Name: "bad", Kind: sdk.KindTool, Tool: panicky{},
		Configure: func(map[string]string) error { return fmt.Errorf("api_key missing") }})
	if _, err := wireOf(bad).Info(ctx, &pb.InfoRequest{}); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "api_key missing") {
		t.Fatalf("configure error: %v", err)
	}
}

// Logger writes go-plugin's log line format, which the host parses: hclog
// JSON with @level, @message and @timestamp in hclog's layout.
func TestLogger_HCLogJSON(t *testing.T) {
	var buf bytes.Buffer
	old := stderr
	stderr = &buf
	defer func() { stderr = old }()
	Logger().Warn("quota low", "left", 3)
	Logger().Debug("detail")
	Logger().Log(context.Background(), -8, "trace detail")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	for i, want := range []struct{ level, msg string }{{"warn", "quota low"}, {"debug", "detail"}, {"trace", "trace detail"}} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		if m["@level"] != want.level || m["@message"] != want.msg {
			t.Errorf("line %d: %v", i, m)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", m["@timestamp"].(string)); err != nil {
			t.Errorf("line %d timestamp: %v", i, err)
		}
	}
	if !strings.Contains(lines[0], `"left":3`) {
		t.Errorf("attribute lost: %s", lines[0])
	}
}

// allKinds serves every kind, each echoing a little of its request.
type allKinds struct{}

func (allKinds) CallTool(_ context.Context, r sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	return sdk.ToolCallResponse{Content: r.Name}, nil
}
func (allKinds) RewardGroup(_ context.Context, r sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	return sdk.RewardGroupResponse{Scores: make([]float64, len(r.Traces))}, nil
}
func (allKinds) Judge(_ context.Context, r sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	return sdk.JudgeResponse{Scores: make([]float64, len(r.Traces))}, nil
}
func (allKinds) Advantages(_ context.Context, r sdk.AdvantageRequest) (sdk.AdvantageResponse, error) {
	if err := r.Validate(); err != nil {
		return sdk.AdvantageResponse{}, err
	}
	return sdk.AdvantageResponse{Advantages: make([][]float64, len(r.Groups))}, nil
}
func (allKinds) Interpret(_ context.Context, r sdk.InterpretRequest) (sdk.InterpretResponse, error) {
	return sdk.InterpretResponse{Stdout: r.Code}, nil
}

// Any bytes in any function: an answer or an error, never a panic that
// escapes, and an answer is JSON.
func FuzzServer_Call(f *testing.F) {
	w, err := rewards.FromConfig([]rewards.Config{{Name: rewards.NameExactMatch, Weight: 1}, {Name: rewards.NameTokenF1, Weight: 1},
		{Name: rewards.NameToolSuccess, Weight: 1}, {Name: rewards.NameStepEfficiency, Weight: 1}})
	if err != nil {
		f.Fatal(err)
	}
	a := allKinds{}
	s, err := NewServer(Plugin{Name: "fuzz", Kind: sdk.KindReward, Reward: w, GroupReward: a, Tool: a, Judge: a, Algorithm: a, Interpreter: a})
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := json.Marshal(sdk.RewardRequest{Expected: "42", Trace: sdk.Trace{FinalAnswer: "42", Turns: []sdk.Turn{{Completion: "x", Tokens: &sdk.TokenSpans{GeneratedIDs: []int32{1}}}}}})
	f.Add(sdk.RewardFunction, seed)
	f.Add(sdk.AlgorithmFunction, []byte(`{"groups": [{"rewards": [1, 0], "lengths": [3]}]}`))
	f.Add(sdk.ToolFunction, []byte(`{"name": "x", "arguments": {"q": [1, {"a": null}]}}`))
	f.Add(sdk.InterpreterFunction, []byte(`{"code": "print(1)", "state": {"x": 1}, "max_steps": -1}`))
	f.Add("nope", []byte(`{}`))
	f.Fuzz(func(t *testing.T, function string, input []byte) {
		resp, err := wireOf(s).Call(context.Background(), &pb.CallRequest{Function: function, Input: input})
		if err != nil {
			if status.Code(err) != codes.Unimplemented {
				t.Fatalf("gRPC error %v", err)
			}
			return
		}
		if resp.GetError() == "" && !json.Valid(resp.GetOutput()) {
			t.Fatalf("output is not JSON: %q", resp.GetOutput())
		}
	})
}

// wireOf is the gRPC service that Serve registers for s.
func wireOf(s *Server) *grpcServer { return &grpcServer{s: s} }

func TestServer_Call_Errors(t *testing.T) {
	s, err := NewServer(Plugin{Name: "tools", Kind: sdk.KindTool, Tool: panicky{}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		function string
		input    string
		is       error // nil: no sentinel expected
		text     string
	}{
		{name: "unserved function", function: sdk.RewardFunction, input: `{}`, is: ErrBadPlugin, text: `does not serve function "reward" (it serves call_tool)`},
		{name: "not its request", function: sdk.ToolFunction, input: `{"name": 1}`, is: sdk.ErrInvalidRequest, text: "invalid request"},
		{name: "implementation error", function: sdk.ToolFunction, input: `{"name": "fail"}`, text: "no route to mailbox"},
		{name: "panic recovered", function: sdk.ToolFunction, input: `{"name": "panic"}`, text: "panic: assignment to entry in nil map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := s.Call(context.Background(), tt.function, []byte(tt.input))
			if err == nil || out != nil || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("out %q, err %v, want an error with %q", out, err, tt.text)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
	_, err = s.Call(context.Background(), sdk.ToolFunction, []byte(`{"name": "panic"}`))
	if msg := err.Error(); !strings.Contains(msg, "serve.panicky.CallTool") || strings.Contains(msg, "debug.Stack") {
		t.Fatalf("a panic's trace must start at the frame that panicked: %s", msg)
	}
	out, err := s.Call(context.Background(), sdk.ToolFunction, []byte(`{"name": "echo"}`))
	if err != nil || !strings.Contains(string(out), `"content":"echo"`) {
		t.Fatalf("out %s, err %v", out, err)
	}
}
