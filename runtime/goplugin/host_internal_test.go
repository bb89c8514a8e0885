package goplugin

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/toolbrain/toolbrain/runtime/contract"
	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/sdk"
)

type echoTool struct{}

func (echoTool) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	if req.Name == "fail" {
		return sdk.ToolCallResponse{}, errors.New("no route")
	}
	return sdk.ToolCallResponse{Content: req.Name}, nil
}

// The Host service checks every call itself, whatever the plugin checked:
// asked (Info), listed (a pack's manifest) and granted (the config).
func TestHostService_Checks(t *testing.T) {
	llm := sdk.LLMFunc(func(ctx context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
		if req.Messages[0].Content == "fail" {
			return sdk.LLMResponse{}, errors.New("endpoint down")
		}
		return sdk.LLMResponse{Text: "ok"}, ctx.Err()
	})
	both := []string{sdk.PermissionTool, sdk.PermissionLLM}
	tests := []struct {
		name     string
		asked    []string
		noInfo   bool // the plugin has not answered Info yet
		grant    []string
		manifest []string
		pack     bool // manifest applies
		noLLM    bool
		input    string
		ctx      func() context.Context
		code     codes.Code
		text     []string
	}{
		{name: "allowed", asked: both, grant: both, input: `{"messages": [{"role": "user", "content": "hi"}]}`, code: codes.OK},
		{name: "allowed by a pack", asked: both, grant: both, manifest: both, pack: true, input: `{"messages": [{"role": "user", "content": "hi"}]}`, code: codes.OK},
		{name: "before Info", noInfo: true, grant: both, code: codes.PermissionDenied, text: []string{`plugin "/bin/judge"`, "serve.Plugin.HostFunctions"}},
		{name: "not asked", asked: []string{sdk.PermissionTool}, grant: both, code: codes.PermissionDenied, text: []string{`plugin "judge"`, sdk.HostLLM, "serve.Plugin.HostFunctions"}},
		{name: "not granted", asked: both, grant: []string{sdk.PermissionTool}, code: codes.PermissionDenied, text: []string{"grant.host_functions"}},
		{name: "not in the manifest", asked: both, grant: both, manifest: []string{sdk.PermissionTool}, pack: true, code: codes.PermissionDenied, text: []string{"toolpack.toml"}},
		{name: "no LLM", asked: both, grant: both, noLLM: true, code: codes.PermissionDenied, text: []string{"no LLM (judge model) is configured on this host"}},
		{name: "not JSON", asked: both, grant: both, input: `{"messages": 3}`, code: codes.InvalidArgument, text: []string{sdk.HostLLM, "not an LLM request"}},
		{name: "LLM fails", asked: both, grant: both, input: `{"messages": [{"role": "user", "content": "fail"}]}`, code: codes.Internal, text: []string{"endpoint down"}},
		{name: "cancelled", asked: both, grant: both, input: `{"messages": [{"role": "user", "content": "hi"}]}`,
			ctx: func() context.Context { c, cancel := context.WithCancel(context.Background()); cancel(); return c }, code: codes.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Grant: contract.Permissions{HostFunctions: tt.grant}, LLM: llm}
			if tt.noLLM {
				cfg.LLM = nil
			}
			if tt.pack {
				cfg.Manifest = &contract.Permissions{HostFunctions: tt.manifest}
			}
			h := newHostService(cfg, "/bin/judge")
			if !tt.noInfo {
				h.setInfo(&pb.InfoResponse{Name: "judge", HostFunctions: tt.asked})
			}
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			resp, err := h.LLM(ctx, &pb.HostRequest{Input: []byte(tt.input)})
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("code %v (%v), want %v", st.Code(), err, tt.code)
			}
			for _, w := range tt.text {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("message %q lacks %q", st.Message(), w)
				}
			}
			if tt.code == codes.OK {
				var r sdk.LLMResponse
				if err := json.Unmarshal(resp.GetOutput(), &r); err != nil || r.Text != "ok" {
					t.Fatalf("response %s: %v", resp.GetOutput(), err)
				}
			}
		})
	}
}

// A tool that fails answers with IsError set; a host with no tools refuses.
func TestHostService_CallTool(t *testing.T) {
	grant := contract.Permissions{HostFunctions: []string{sdk.PermissionTool}}
	h := newHostService(Config{Grant: grant, Tools: echoTool{}}, "/bin/x")
	h.setInfo(&pb.InfoResponse{Name: "x", HostFunctions: []string{sdk.PermissionTool}})
	tests := []struct {
		name  string
		input string
		want  sdk.ToolCallResponse
		code  codes.Code
	}{
		{name: "answers", input: `{"name": "search"}`, want: sdk.ToolCallResponse{Content: "search"}},
		{name: "tool fails", input: `{"name": "fail"}`, want: sdk.ToolCallResponse{Content: "no route", IsError: true}},
		{name: "not JSON", input: `[`, code: codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.CallTool(context.Background(), &pb.HostRequest{Input: []byte(tt.input)})
			if status.Code(err) != tt.code {
				t.Fatalf("err = %v, want code %v", err, tt.code)
			}
			if tt.code != codes.OK {
				return
			}
			var r sdk.ToolCallResponse
			if err := json.Unmarshal(resp.GetOutput(), &r); err != nil || r.Content != tt.want.Content || r.IsError != tt.want.IsError {
				t.Fatalf("response %s (%v), want %+v", resp.GetOutput(), err, tt.want)
			}
		})
	}
	none := newHostService(Config{Grant: grant}, "/bin/x")
	none.setInfo(&pb.InfoResponse{Name: "x", HostFunctions: []string{sdk.PermissionTool}})
	if _, err := none.CallTool(context.Background(), &pb.HostRequest{Input: []byte(`{"name": "a"}`)}); status.Code(err) != codes.PermissionDenied ||
		!strings.Contains(err.Error(), "no tools are configured on this host") {
		t.Fatalf("no tools: %v", err)
	}
}
