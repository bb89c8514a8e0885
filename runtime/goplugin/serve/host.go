package serve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	gojson "github.com/goccy/go-json"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/runtime/goplugin/internal/wire"
	"github.com/toolbrain/toolbrain/sdk"
)

// HostClient calls the host functions of the process's host: a tool the
// host serves (sdk.HostCallTool) and the coach's judge model
// (sdk.HostLLM), the same functions a WebAssembly plugin imports. Get it
// with [Host] from the context of a plugin call. It is safe for concurrent
// use.
//
// A function is allowed when the plugin asks for its permission in
// [Plugin.HostFunctions] and the host's configuration grants it; the host
// checks every call. A call that is not allowed, or made where there is no
// host (a context that is not a plugin call's), fails with an error
// wrapping sdk.ErrPermissionDenied that says what to change, so plugin code
// needs no nil checks.
type HostClient struct {
	plugin string   // the plugin's name; "" for the context without a host
	asked  []string // Plugin.HostFunctions
	conn   atomic.Pointer[hostConn]
	fake   *fakeHost // WithHost
}

// hostConn is what one process start (one Info) knows of the host.
type hostConn struct {
	granted []string      // InfoRequest.granted
	rpc     pb.HostClient // nil: nothing granted that the plugin asked for
	cc      *grpc.ClientConn
	err     error // why the Host service could not be reached
}

// hostKey is the context key of the call's *HostClient.
type hostKey struct{}

// noHost answers in contexts that are not a plugin call's.
var noHost = &HostClient{}

// Host returns the host functions available to the plugin call whose
// context is ctx (or a context derived from it). It never returns nil: in
// a context without a host its methods fail with sdk.ErrPermissionDenied.
func Host(ctx context.Context) *HostClient {
	if h, ok := ctx.Value(hostKey{}).(*HostClient); ok {
		return h
	}
	return noHost
}

// WithHost returns a copy of ctx in which [Host] answers in-process with
// tools and llm: for tests of a plugin's implementations without a host
// process. A nil tools or llm makes that function fail with
// sdk.ErrPermissionDenied. As with a real host, a tool that fails answers
// with IsError set, and a failing llm fails the call with [ErrHost].
func WithHost(ctx context.Context, tools sdk.Tool, llm sdk.LLM) context.Context {
	return context.WithValue(ctx, hostKey{}, &HostClient{plugin: "test", fake: &fakeHost{tools: tools, llm: llm}})
}

// CallTool calls a tool the host serves (sdk.HostCallTool), under the
// plugin's permission sdk.PermissionTool. A tool that fails answers with
// IsError set and the failure in Content; the error is for calls that could
// not be made: not allowed (sdk.ErrPermissionDenied), ctx done (its
// error), or the host failing ([ErrHost]). The call ends when ctx is done;
// the host sees the same deadline.
func (h *HostClient) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	if h.fake != nil {
		return h.fake.callTool(ctx, req)
	}
	var resp sdk.ToolCallResponse
	err := h.call(ctx, sdk.PermissionTool, req, &resp, pb.HostClient.CallTool)
	return resp, err
}

// LLM asks the coach's judge model (sdk.HostLLM), under the plugin's
// permission sdk.PermissionLLM. It fails when the call is not allowed or
// the host has no judge model (sdk.ErrPermissionDenied), when ctx is done
// (its error), and when the model fails ([ErrHost], with the host's
// message). The call ends when ctx is done; the host sees the same
// deadline.
func (h *HostClient) LLM(ctx context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
	if h.fake != nil {
		return h.fake.askLLM(ctx, req)
	}
	var resp sdk.LLMResponse
	err := h.call(ctx, sdk.PermissionLLM, req, &resp, pb.HostClient.LLM)
	return resp, err
}

type hostRPC func(pb.HostClient, context.Context, *pb.HostRequest, ...grpc.CallOption) (*pb.HostResponse, error)

// call checks the permission, then sends req as JSON and decodes the
// answer into resp.
func (h *HostClient) call(ctx context.Context, perm string, req, resp any, rpc hostRPC) error {
	fn := wire.HostFunctions[perm]
	if h.plugin == "" {
		return fmt.Errorf("%w: %s: no host in this context: serve.Host needs the context of a plugin call (or, in a test, one made by serve.WithHost)",
			sdk.ErrPermissionDenied, fn)
	}
	c := h.conn.Load()
	asked := slices.Contains(h.asked, perm)
	granted := c != nil && slices.Contains(c.granted, perm)
	if !asked || !granted {
		return fmt.Errorf("%w: %s", sdk.ErrPermissionDenied, wire.Denial{Plugin: h.plugin, Permission: perm, NotAsked: !asked, NotGranted: !granted})
	}
	if c.err != nil {
		return fmt.Errorf("%s: %w: %w", fn, ErrHost, c.err)
	}
	if c.rpc == nil {
		return fmt.Errorf("%w: %s: the host grants %q but serves no host functions", sdk.ErrPermissionDenied, fn, perm)
	}
	in, err := gojson.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", fn, sdk.ErrInvalidRequest, err)
	}
	out, err := rpc(c.rpc, ctx, &pb.HostRequest{Input: in})
	if err != nil {
		return hostError(ctx, fn, err)
	}
	if err := gojson.Unmarshal(out.GetOutput(), resp); err != nil {
		return fmt.Errorf("%s: %w: %w", fn, sdk.ErrInvalidResponse, err)
	}
	return nil
}

// hostError turns a failed Host call into the plugin's error, the call's
// own end first.
func hostError(ctx context.Context, fn string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", fn, ctx.Err())
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.PermissionDenied:
		return fmt.Errorf("%w: %s", sdk.ErrPermissionDenied, st.Message())
	case codes.InvalidArgument:
		return fmt.Errorf("%w: %s", sdk.ErrInvalidRequest, st.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", fn, context.DeadlineExceeded)
	case codes.Canceled:
		return fmt.Errorf("%s: %w", fn, context.Canceled)
	}
	return fmt.Errorf("%s: %w: %s", fn, ErrHost, st.Message())
}

// fakeHost answers WithHost's host functions in-process.
type fakeHost struct {
	tools sdk.Tool
	llm   sdk.LLM
}

func (f *fakeHost) callTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	if f.tools == nil {
		return sdk.ToolCallResponse{}, fmt.Errorf("%w: %s: WithHost was given no tools", sdk.ErrPermissionDenied, sdk.HostCallTool)
	}
	resp, err := f.tools.CallTool(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return sdk.ToolCallResponse{}, fmt.Errorf("%s: %w", sdk.HostCallTool, ctx.Err())
		}
		return sdk.ToolCallResponse{Content: err.Error(), IsError: true}, nil
	}
	return resp, nil
}

func (f *fakeHost) askLLM(ctx context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
	if f.llm == nil {
		return sdk.LLMResponse{}, fmt.Errorf("%w: %s: WithHost was given no LLM", sdk.ErrPermissionDenied, sdk.HostLLM)
	}
	resp, err := f.llm.Complete(ctx, req)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return sdk.LLMResponse{}, fmt.Errorf("%s: %w", sdk.HostLLM, err)
		}
		return sdk.LLMResponse{}, fmt.Errorf("%s: %w: %w", sdk.HostLLM, ErrHost, err)
	}
	return resp, nil
}
