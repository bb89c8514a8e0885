// Package serve turns a Go program into a ToolBrain plugin that the host
// runs as a separate process over hashicorp/go-plugin (gRPC), loaded with
// runtime/goplugin.Open.
//
// A plugin's main fills a [Plugin] with its sdk implementations and calls
// [Serve]:
//
//	func main() {
//		err := serve.Serve(serve.Plugin{
//			Name:   "exact-match",
//			Kind:   sdk.KindReward,
//			Reward: rewards.ExactMatch{Normalize: true},
//		})
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//	}
//
// The package depends on sdk, go-plugin and gRPC, not on the WebAssembly
// runtime, so a plugin binary stays small.
//
// # Host functions
//
// A plugin may call back into the host, as a WebAssembly plugin imports
// toolbrain_call_tool and toolbrain_llm: [Host](ctx) on the context of a
// call returns a [HostClient] whose CallTool calls a tool the host serves
// and whose LLM asks the coach's judge model. A function is open when the
// plugin asks for its permission in [Plugin.HostFunctions] and the user's
// configuration grants it (grant.host_functions = ["llm"]); otherwise, or
// outside a call, it fails with an error wrapping sdk.ErrPermissionDenied
// that names the plugin, the function and what to change, and the host's
// error for the call wraps sdk.ErrPermissionDenied too when the plugin
// returns it. A judge that asks the model:
//
//	func (j judge) Judge(ctx context.Context, req sdk.JudgeRequest) (sdk.JudgeResponse, error) {
//		resp, err := serve.Host(ctx).LLM(ctx, sdk.LLMRequest{
//			Messages: []sdk.Message{{Role: "user", Content: "Rate 0-10: " + req.Traces[0].FinalAnswer}},
//		})
//		if err != nil {
//			return sdk.JudgeResponse{}, err
//		}
//		...
//	}
//
//	serve.Serve(serve.Plugin{Name: "llm-judge", Kind: sdk.KindJudge, Judge: judge{},
//		HostFunctions: []string{sdk.PermissionLLM}})
//
// The host's calls keep the plugin call's deadline. In tests, [WithHost]
// stands in for the host in-process (see the example of [Host]).
//
// # Why a process
//
// Use go-plugin for plugins that need what WebAssembly cannot give: cgo,
// real network clients, files, goroutines on all cores. The process runs
// with the user's privileges: it is trusted code, unlike a WebAssembly
// plugin, which gets no file system or network unless granted.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	gojson "github.com/goccy/go-json"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/toolbrain/toolbrain/runtime/goplugin/internal/wire"
	"github.com/toolbrain/toolbrain/sdk"
)

// Sentinel errors of package serve.
var (
	// ErrBadPlugin means a [Plugin] cannot be served: no name, an unknown
	// kind, no implementation of its kind, or an unknown permission in
	// HostFunctions.
	ErrBadPlugin = errors.New("serve: invalid plugin")
	// ErrHost means a host function failed on the host's side (the judge
	// model returned an error, say) or the host could not be reached; the
	// error carries the host's message.
	ErrHost = errors.New("serve: host function failed")
)

// MaxInputBytes caps one request a plugin accepts (gRPC's default is 4 MiB;
// a judge request of many long traces can pass that).
const MaxInputBytes = 256 << 20

// Plugin is what a plugin process serves. Set the implementation of Kind;
// the others are optional (a reward may also set GroupReward).
type Plugin struct {
	// Name identifies the plugin in the host's errors and logs.
	Name string
	// Version is the plugin's own version, for display.
	Version string
	// Kind is the plugin kind; its implementation below must be set.
	Kind sdk.Kind
	// SDKVersion is the SDK version the plugin states; "" means sdk.Version
	// as compiled into the plugin, which is right for every real plugin.
	SDKVersion string

	// The implementations: the one of Kind must be set, the others may be
	// (a reward may also serve GroupReward, or a tool plugin a reward). Each
	// is called concurrently, once per host call, with the call's context.
	Tool        sdk.Tool
	Reward      sdk.Reward
	GroupReward sdk.GroupReward
	Judge       sdk.Judge
	Algorithm   sdk.Algorithm
	Interpreter sdk.Interpreter

	// HostFunctions are the permissions of the host functions the plugin
	// asks for, its manifest: sdk.PermissionTool to call the host's tools,
	// sdk.PermissionLLM to ask the coach's judge model (see [Host]). The
	// plugin may call what it asks for here and the host's configuration
	// grants. Logging ([Logger]) and configuration (Configure) need none.
	HostFunctions []string

	// Configure, when set, receives the user's configuration of the plugin
	// (toolbrain.toml) after every start of the process, before any call.
	// An error fails the host's Open (or the call that restarted the
	// process) with its message.
	Configure func(config map[string]string) error
}

// Serve serves p until the host stops the process. It returns an error
// without serving when p is invalid; a binary started by hand rather than by
// the host prints an explanation and exits with status 1 (go-plugin's
// behaviour).
func Serve(p Plugin) error {
	srv, err := NewServer(p)
	if err != nil {
		return err
	}
	protocol, err := wire.ProtocolVersion(srv.sdkVersion)
	if err != nil {
		return fmt.Errorf("plugin %q: %w", p.Name, err)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake(protocol),
		Plugins:         plugin.PluginSet{wire.PluginName: &wire.GRPCPlugin{Impl: &grpcServer{s: srv}}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, wire.ServerOptions(MaxInputBytes)...)...)
		},
	})
	return nil
}

// Server is a validated [Plugin] as [Serve] serves it, exported so that a
// plugin's own tests can call it in-process with [Server.Call], without
// starting a process. Its gRPC service (the wire format) is internal to
// runtime/goplugin.
type Server struct {
	p          Plugin
	sdkVersion string
	fns        map[string]handler
	names      []string
	host       *HostClient // what Host returns in this server's calls

	mu     sync.Mutex
	broker *plugin.GRPCBroker // set by UseBroker
}

type handler func(ctx context.Context, input []byte) ([]byte, error)

// NewServer validates p and returns its service.
func NewServer(p Plugin) (*Server, error) {
	if p.Name == "" {
		return nil, fmt.Errorf("%w: no name", ErrBadPlugin)
	}
	if !p.Kind.Valid() {
		return nil, fmt.Errorf("%w: plugin %q: unknown kind %q", ErrBadPlugin, p.Name, p.Kind)
	}
	for _, perm := range p.HostFunctions {
		if wire.HostFunctions[perm] == "" {
			return nil, fmt.Errorf("%w: plugin %q: HostFunctions: unknown permission %q (a go-plugin plugin asks for %q or %q; logging and configuration need none)",
				ErrBadPlugin, p.Name, perm, sdk.PermissionTool, sdk.PermissionLLM)
		}
	}
	s := &Server{p: p, sdkVersion: p.SDKVersion, fns: map[string]handler{},
		host: &HostClient{plugin: p.Name, asked: slices.Clone(p.HostFunctions)}}
	if s.sdkVersion == "" {
		s.sdkVersion = sdk.Version
	}
	if p.Tool != nil {
		s.fns[sdk.ToolFunction] = handle(p.Tool.CallTool)
	}
	if p.Reward != nil {
		s.fns[sdk.RewardFunction] = handle(p.Reward.Reward)
	}
	if p.GroupReward != nil {
		s.fns[sdk.RewardGroupFunction] = handle(p.GroupReward.RewardGroup)
	}
	if p.Judge != nil {
		s.fns[sdk.JudgeFunction] = handle(p.Judge.Judge)
	}
	if p.Algorithm != nil {
		s.fns[sdk.AlgorithmFunction] = handle(p.Algorithm.Advantages)
	}
	if p.Interpreter != nil {
		s.fns[sdk.InterpreterFunction] = handle(p.Interpreter.Interpret)
	}
	if s.fns[p.Kind.Function()] == nil {
		return nil, fmt.Errorf("%w: plugin %q of kind %s has no %s implementation", ErrBadPlugin, p.Name, p.Kind, p.Kind)
	}
	for name := range s.fns {
		s.names = append(s.names, name)
	}
	slices.Sort(s.names)
	return s, nil
}

// Call runs function (sdk.RewardFunction, sdk.ToolFunction, ...) on input,
// the JSON of its sdk request, and returns the JSON of its response, as a
// call from the host would: the implementation reaches the host with
// [Host](ctx), a ctx that carries a host from [WithHost] keeps it, and a
// panic is recovered into an error. An error wraps [ErrBadPlugin] when the
// plugin serves no such function, sdk.ErrInvalidRequest when input is not
// the function's request, and is otherwise the implementation's own.
func (s *Server) Call(ctx context.Context, function string, input []byte) (out []byte, err error) {
	f := s.fns[function]
	if f == nil {
		return nil, fmt.Errorf("%w: plugin %q does not serve function %q (it serves %s)", ErrBadPlugin, s.p.Name, function, strings.Join(s.names, ", "))
	}
	if _, ok := ctx.Value(hostKey{}).(*HostClient); !ok {
		ctx = context.WithValue(ctx, hostKey{}, s.host)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("panic: %v\n%s", r, firstFrames(debug.Stack()))
		}
	}()
	return f(ctx, input)
}

// firstFrames keeps the head of a stack trace for an error message, from
// the frame that panicked: the frames above it (debug.Stack, the deferred
// recovery, runtime.panic) say nothing about the bug.
func firstFrames(stack []byte) string {
	const max = 1024
	s := strings.TrimSpace(string(stack))
	if i := strings.Index(s, "\npanic("); i >= 0 {
		// Skip the panic( line and its file:line line.
		if rest := strings.SplitN(s[i+1:], "\n", 3); len(rest) == 3 {
			s = rest[2]
		}
	}
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// handle adapts a typed sdk method to JSON in, JSON out. It uses
// goccy/go-json, which decodes a 2 KB reward request in 8 µs where
// encoding/json takes 25-32 µs (a sixth of a round trip); the input is the
// host's own JSON, and the host decodes the plugin's output with
// encoding/json.
func handle[Req, Resp any](f func(context.Context, Req) (Resp, error)) handler {
	return func(ctx context.Context, input []byte) ([]byte, error) {
		var req Req
		if err := gojson.Unmarshal(input, &req); err != nil {
			return nil, fmt.Errorf("%w: %w", sdk.ErrInvalidRequest, err)
		}
		resp, err := f(ctx, req)
		if err != nil {
			return nil, err
		}
		return gojson.Marshal(resp)
	}
}

// stderr is the process's real standard error, kept before go-plugin
// replaces os.Stderr with a pipe to the host.
var stderr io.Writer = os.Stderr

// Logger returns a logger whose records the host re-logs through its own
// slog logger with their level, message and attributes. It writes go-plugin's
// log line format (hclog JSON) to the process's standard error.
func Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{
		Level: slog.LevelDebug - 4,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			case slog.LevelKey:
				return slog.String("@level", hclogLevel(a.Value.Any().(slog.Level)))
			}
			return a
		},
	}))
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
