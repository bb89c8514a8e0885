package goplugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sync/atomic"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/toolbrain/toolbrain/runtime/contract"
	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/runtime/goplugin/internal/wire"
	"github.com/toolbrain/toolbrain/sdk"
)

// hostPermissions are the permissions that open a host function to a
// process, in the order InfoRequest.granted lists them.
var hostPermissions = []string{sdk.PermissionTool, sdk.PermissionLLM}

// grantable are the permission names Config.Grant may hold: the host
// functions', and log and config, which a process has without asking.
var grantable = append(slices.Clone(hostPermissions), sdk.PermissionLog, sdk.PermissionConfig)

// hostService serves the host functions to one process (pb.HostServer),
// checking every call against what the plugin asked for in its Info, what
// its pack's manifest lists, and what the configuration grants.
type hostService struct {
	pb.UnimplementedHostServer
	grant    contract.Permissions
	manifest *contract.Permissions // nil: not a pack
	tools    sdk.Tool
	llm      sdk.LLM
	path     string                  // names the plugin until its Info
	info     atomic.Pointer[askInfo] // nil until the process answered Info
}

// askInfo is what the plugin's Info says about it.
type askInfo struct {
	name  string
	asked []string // InfoResponse.host_functions
}

var _ pb.HostServer = (*hostService)(nil)

func newHostService(cfg Config, path string) *hostService {
	return &hostService{grant: cfg.Grant, manifest: cfg.Manifest, tools: cfg.Tools, llm: cfg.LLM, path: path}
}

// granted lists the host functions' permissions the configuration grants:
// InfoRequest.granted.
func granted(grant contract.Permissions) []string {
	var out []string
	for _, perm := range hostPermissions {
		if grant.Has(perm) {
			out = append(out, perm)
		}
	}
	return out
}

// effective lists the host functions' permissions a plugin that asks for
// asked may use: asked ∩ grant ∩ manifest.
func effective(asked []string, grant contract.Permissions, manifest *contract.Permissions) []string {
	var out []string
	for _, perm := range hostPermissions {
		if slices.Contains(asked, perm) && grant.Has(perm) && (manifest == nil || manifest.Has(perm)) {
			out = append(out, perm)
		}
	}
	return out
}

// setInfo records the plugin's Info: from now on its asks are known.
func (h *hostService) setInfo(info *pb.InfoResponse) {
	h.info.Store(&askInfo{name: info.GetName(), asked: slices.Clone(info.GetHostFunctions())})
}

// name is the plugin's name, or its path before Info.
func (h *hostService) name() string {
	if a := h.info.Load(); a != nil {
		return a.name
	}
	return h.path
}

// allow returns nil when the plugin may call the function of perm, and
// otherwise a PermissionDenied status saying what is missing.
func (h *hostService) allow(perm string) error {
	var asked []string
	if a := h.info.Load(); a != nil {
		asked = a.asked
	}
	d := wire.Denial{
		Plugin:        h.name(),
		Permission:    perm,
		NotAsked:      !slices.Contains(asked, perm),
		NotInManifest: h.manifest != nil && !h.manifest.Has(perm),
		NotGranted:    !h.grant.Has(perm),
	}
	if d.NotAsked || d.NotInManifest || d.NotGranted {
		return status.Error(codes.PermissionDenied, d.String())
	}
	return nil
}

// CallTool implements pb.HostServer: sdk.HostCallTool. A tool that fails
// answers with IsError set, as for a WebAssembly plugin.
func (h *hostService) CallTool(ctx context.Context, in *pb.HostRequest) (*pb.HostResponse, error) {
	if err := h.allow(sdk.PermissionTool); err != nil {
		return nil, err
	}
	if h.tools == nil {
		return nil, status.Errorf(codes.PermissionDenied, "plugin %q called %s, but no tools are configured on this host", h.name(), sdk.HostCallTool)
	}
	var req sdk.ToolCallRequest
	if err := json.Unmarshal(in.GetInput(), &req); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: not a tool call request: %v", sdk.HostCallTool, err)
	}
	resp, err := h.tools.CallTool(ctx, req)
	if err != nil {
		resp = sdk.ToolCallResponse{Content: err.Error(), IsError: true}
	}
	return encodeHost(sdk.HostCallTool, resp)
}

// LLM implements pb.HostServer: sdk.HostLLM.
func (h *hostService) LLM(ctx context.Context, in *pb.HostRequest) (*pb.HostResponse, error) {
	if err := h.allow(sdk.PermissionLLM); err != nil {
		return nil, err
	}
	if h.llm == nil {
		return nil, status.Errorf(codes.PermissionDenied, "plugin %q called %s, but no LLM (judge model) is configured on this host", h.name(), sdk.HostLLM)
	}
	var req sdk.LLMRequest
	if err := json.Unmarshal(in.GetInput(), &req); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: not an LLM request: %v", sdk.HostLLM, err)
	}
	resp, err := h.llm.Complete(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	return encodeHost(sdk.HostLLM, resp)
}

func encodeHost(fn string, resp any) (*pb.HostResponse, error) {
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%s: encode the response: %v", fn, err)
	}
	return &pb.HostResponse{Output: out}, nil
}

// serveHost serves hs on a new connection of the broker and returns the
// server and the connection's id, which the plugin dials. ctx bounds the
// wait for the broker to announce the connection.
func serveHost(ctx context.Context, b *plugin.GRPCBroker, hs *hostService) (*grpc.Server, uint32, error) {
	type accepted struct {
		ln  net.Listener
		err error
	}
	id := b.NextId()
	ch := make(chan accepted, 1)
	go func() {
		ln, err := b.Accept(id) // a socket, announced to the plugin on the broker's stream
		ch <- accepted{ln, err}
	}()
	var a accepted
	select {
	case a = <-ch:
	case <-ctx.Done():
		// Accept returns once the broker closes, when the process is killed.
		go func() {
			if a := <-ch; a.ln != nil {
				_ = a.ln.Close()
			}
		}()
		return nil, 0, ctx.Err()
	}
	if a.err != nil {
		return nil, 0, fmt.Errorf("broker: %w", a.err)
	}
	srv := grpc.NewServer(wire.ServerOptions(wire.MaxMessageBytes)...)
	pb.RegisterHostServer(srv, hs)
	go func() { _ = srv.Serve(a.ln) }()
	return srv, id, nil
}
