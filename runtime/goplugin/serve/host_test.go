package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/runtime/goplugin/internal/wire"
	"github.com/toolbrain/toolbrain/sdk"
)

// Outside a plugin call, Host is not nil and refuses every function.
func TestHost_NoHost(t *testing.T) {
	h := Host(context.Background())
	if h == nil {
		t.Fatal("Host returned nil")
	}
	_, err := h.LLM(context.Background(), sdk.LLMRequest{})
	if !errors.Is(err, sdk.ErrPermissionDenied) || !strings.Contains(err.Error(), sdk.HostLLM) || !strings.Contains(err.Error(), "no host in this context") {
		t.Fatalf("LLM: %v", err)
	}
	_, err = h.CallTool(context.Background(), sdk.ToolCallRequest{Name: "x"})
	if !errors.Is(err, sdk.ErrPermissionDenied) || !strings.Contains(err.Error(), sdk.HostCallTool) {
		t.Fatalf("CallTool: %v", err)
	}
}

// hostUser is a tool whose "llm" asks the host's LLM and whose "tool"
// calls the host's "search" tool.
type hostUser struct{}

func (hostUser) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	if req.Name == "tool" {
		return Host(ctx).CallTool(ctx, sdk.ToolCallRequest{Name: "search"})
	}
	r, err := Host(ctx).LLM(ctx, sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		return sdk.ToolCallResponse{}, fmt.Errorf("ask: %w", err)
	}
	return sdk.ToolCallResponse{Content: r.Text}, nil
}

// A server refuses, without a round trip, what its plugin did not ask for
// or the host did not grant, and reports a host it cannot reach; the
// response's error_code tells the host a refusal from another failure.
func TestServer_HostChecks(t *testing.T) {
	tests := []struct {
		name    string
		ask     []string
		info    *pb.InfoRequest
		tool    string
		code    string
		text    []string
		errHost bool
	}{
		{name: "not granted", ask: []string{sdk.PermissionLLM}, info: &pb.InfoRequest{}, tool: "llm", code: wire.ErrorCodePermissionDenied,
			text: []string{`plugin "h"`, sdk.HostLLM, "grant.host_functions"}},
		{name: "not asked", ask: []string{sdk.PermissionLLM}, info: &pb.InfoRequest{Granted: []string{sdk.PermissionLLM, sdk.PermissionTool}}, tool: "tool",
			code: wire.ErrorCodePermissionDenied, text: []string{sdk.HostCallTool, "sdk.PermissionTool to serve.Plugin.HostFunctions"}},
		{name: "granted without a service", ask: []string{sdk.PermissionLLM}, info: &pb.InfoRequest{Granted: []string{sdk.PermissionLLM}}, tool: "llm",
			code: wire.ErrorCodePermissionDenied, text: []string{`grants "llm" but serves no host functions`}},
		{name: "no broker", ask: []string{sdk.PermissionLLM}, info: &pb.InfoRequest{Granted: []string{sdk.PermissionLLM}, HostBrokerId: 1}, tool: "llm",
			errHost: true, text: []string{"not served by serve.Serve"}},
		{name: "before Info", ask: []string{sdk.PermissionLLM}, tool: "llm", code: wire.ErrorCodePermissionDenied, text: []string{"grant.host_functions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewServer(Plugin{Name: "h", Kind: sdk.KindTool, Tool: hostUser{}, HostFunctions: tt.ask})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tt.info != nil {
				info, err := wireOf(s).Info(ctx, tt.info)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(info.GetHostFunctions(), ",") != strings.Join(tt.ask, ",") {
					t.Fatalf("info asks for %v, want %v", info.GetHostFunctions(), tt.ask)
				}
			}
			resp, err := wireOf(s).Call(ctx, &pb.CallRequest{Function: sdk.ToolFunction, Input: []byte(`{"name": "` + tt.tool + `"}`)})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetErrorCode() != tt.code {
				t.Errorf("error_code %q, want %q (error %q)", resp.GetErrorCode(), tt.code, resp.GetError())
			}
			if tt.errHost != strings.Contains(resp.GetError(), ErrHost.Error()) {
				t.Errorf("error %q: ErrHost %v, want %v", resp.GetError(), !tt.errHost, tt.errHost)
			}
			for _, w := range tt.text {
				if !strings.Contains(resp.GetError(), w) {
					t.Errorf("error %q lacks %q", resp.GetError(), w)
				}
			}
		})
	}
}

func TestNewServer_BadHostFunctions(t *testing.T) {
	_, err := NewServer(Plugin{Name: "x", Kind: sdk.KindTool, Tool: hostUser{}, HostFunctions: []string{sdk.PermissionLLM, sdk.PermissionLog}})
	if !errors.Is(err, ErrBadPlugin) || !strings.Contains(err.Error(), `HostFunctions: unknown permission "log"`) {
		t.Fatalf("err = %v, want ErrBadPlugin naming the permission", err)
	}
}

type failingTool struct{}

func (failingTool) CallTool(context.Context, sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	return sdk.ToolCallResponse{}, errors.New("index offline")
}

// WithHost answers in-process as a host would: a failing tool answers with
// IsError, a failing LLM fails with ErrHost, a missing one is refused.
func TestWithHost(t *testing.T) {
	boom := errors.New("endpoint down")
	llm := sdk.LLMFunc(func(_ context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
		if req.Messages[0].Content == "fail" {
			return sdk.LLMResponse{}, boom
		}
		return sdk.LLMResponse{Text: "re: " + req.Messages[0].Content}, nil
	})
	ask := func(ctx context.Context, text string) (sdk.LLMResponse, error) {
		return Host(ctx).LLM(ctx, sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: text}}})
	}
	ctx := WithHost(context.Background(), failingTool{}, llm)
	if r, err := ask(ctx, "hi"); err != nil || r.Text != "re: hi" {
		t.Fatalf("LLM: %+v, %v", r, err)
	}
	if _, err := ask(ctx, "fail"); !errors.Is(err, ErrHost) || !errors.Is(err, boom) {
		t.Fatalf("failing LLM: %v, want ErrHost wrapping its error", err)
	}
	if r, err := Host(ctx).CallTool(ctx, sdk.ToolCallRequest{Name: "search"}); err != nil || !r.IsError || r.Content != "index offline" {
		t.Fatalf("failing tool: %+v, %v", r, err)
	}
	noLLM := WithHost(context.Background(), failingTool{}, nil)
	if _, err := ask(noLLM, "hi"); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Fatalf("no LLM: %v", err)
	}
	noTools := WithHost(context.Background(), nil, llm)
	if _, err := Host(noTools).CallTool(noTools, sdk.ToolCallRequest{}); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Fatalf("no tools: %v", err)
	}

	// Server.Call keeps a host that the context brings.
	s, err := NewServer(Plugin{Name: "h", Kind: sdk.KindTool, Tool: hostUser{}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := wireOf(s).Call(ctx, &pb.CallRequest{Function: sdk.ToolFunction, Input: []byte(`{"name": "llm"}`)})
	if err != nil || resp.GetError() != "" {
		t.Fatal(err, resp.GetError())
	}
	var out sdk.ToolCallResponse
	if err := json.Unmarshal(resp.GetOutput(), &out); err != nil || out.Content != "re: hi" {
		t.Fatalf("through Server.Call: %s, %v", resp.GetOutput(), err)
	}
}

// The host's gRPC codes become the sentinels plugin code tests for.
func TestHostError(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want error
	}{
		{name: "permission denied", err: status.Error(codes.PermissionDenied, "no"), want: sdk.ErrPermissionDenied},
		{name: "invalid argument", err: status.Error(codes.InvalidArgument, "bad"), want: sdk.ErrInvalidRequest},
		{name: "deadline", err: status.Error(codes.DeadlineExceeded, "late"), want: context.DeadlineExceeded},
		{name: "cancelled by the host", err: status.Error(codes.Canceled, "stop"), want: context.Canceled},
		{name: "the call's own context first", ctx: cancelled, err: status.Error(codes.Internal, "x"), want: context.Canceled},
		{name: "host failure", err: status.Error(codes.Internal, "endpoint down"), want: ErrHost},
		{name: "host gone", err: status.Error(codes.Unavailable, "connection refused"), want: ErrHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			err := hostError(ctx, sdk.HostLLM, tt.err)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			keeps := tt.ctx == nil && (tt.want == sdk.ErrPermissionDenied || tt.want == sdk.ErrInvalidRequest || tt.want == ErrHost)
			if msg := status.Convert(tt.err).Message(); keeps && !strings.Contains(err.Error(), msg) {
				t.Fatalf("err = %v lacks the host's message %q", err, msg)
			}
		})
	}
}
