package goplugin

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/toolbrain/toolbrain/runtime/contract"
	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/runtime/goplugin/internal/wire"
	"github.com/toolbrain/toolbrain/runtime/internal/typed"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/sdk"
)

// typedMethods gives Plugin the typed method of every sdk kind (Reward,
// Judge, ...) under an unexported field name.
type typedMethods = typed.Methods

// Plugin is a plugin served by a separate process over go-plugin (gRPC). It
// is safe for concurrent use: calls are multiplexed on one connection, at
// most Limits.MaxInstances at once (others wait).
//
// The process is started by [Open] and restarted by the first call after it
// crashed or exited; a call in flight when it crashed fails with
// [ErrCrashed] naming the plugin and its path.
//
// Plugin implements every sdk kind over Call (its Reward, RewardGroup,
// Judge, Advantages, CallTool and Interpret methods, promoted from an
// unexported field and so not listed by go doc): each encodes the request,
// calls the kind's function and checks the response, failing with an error
// that names the plugin and the function and wraps sdk.ErrInvalidResponse
// (or sdk.ErrInvalidScore) for a response that breaks its kind's
// invariants. RewardGroup calls reward once per trace when the plugin
// exports no reward_group.
type Plugin struct {
	typedMethods // Reward, Judge, ... over Call

	path    string
	cfg     Config
	log     *slog.Logger
	sem     chan struct{}
	name    string
	version string
	kind    sdk.Kind
	sdkVer  string
	exports map[string]bool
	perms   contract.Permissions // the host functions it may call

	// mu guards the fields below and is held only to read or change them,
	// never across a start or a stop (net/http's Server.Shutdown does the
	// same): Close and the calls of other goroutines do not wait for a
	// process that is slow to start or to stop.
	mu       sync.Mutex
	cur      *conn
	starting chan struct{} // non-nil while a restart is under way; closed when it ends
	starts   int
	closed   bool
	closing  chan struct{} // closed by Close: a start under way gives up
}

// Compile-time checks: a go-plugin plugin serves every kind, as a
// WebAssembly one does.
var (
	_ sdk.Reward      = (*Plugin)(nil)
	_ sdk.GroupReward = (*Plugin)(nil)
	_ sdk.Judge       = (*Plugin)(nil)
	_ sdk.Algorithm   = (*Plugin)(nil)
	_ sdk.Tool        = (*Plugin)(nil)
	_ sdk.Interpreter = (*Plugin)(nil)
)

// Open starts the plugin binary at path, completes go-plugin's handshake,
// calls Info and negotiates the SDK version, and returns the running plugin.
//
// A plugin of another SDK major version is refused by the handshake, one of
// a newer minor by sdk.Negotiate; both errors wrap sdk.ErrIncompatibleVersion
// and name both versions. The start waits at most cfg.StartTimeout; ctx
// bounds the Info call. Close the plugin to stop the process.
func Open(ctx context.Context, path string, cfg Config) (*Plugin, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open go-plugin %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open go-plugin %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("open go-plugin %s: %w: a directory, not an executable", path, ErrStart)
	}
	p := &Plugin{
		path:    path,
		cfg:     cfg,
		log:     cfg.Logger.With("plugin_path", path),
		sem:     make(chan struct{}, cfg.Limits.MaxInstances),
		name:    filepath.Base(path),
		closing: make(chan struct{}),
	}
	p.typedMethods = typed.New(p.Call, p.Exports, p.wrap)
	c, info, err := p.start(ctx)
	if err != nil {
		return nil, fmt.Errorf("open go-plugin %s: %w", path, err)
	}
	p.name, p.version, p.kind, p.sdkVer = info.GetName(), info.GetVersion(), sdk.Kind(info.GetKind()), info.GetSdkVersion()
	p.exports = map[string]bool{}
	for _, f := range info.GetFunctions() {
		p.exports[f] = true
	}
	p.perms = contract.Permissions{HostFunctions: effective(info.GetHostFunctions(), cfg.Grant, cfg.Manifest)}
	p.cur, p.starts = c, 1
	return p, nil
}

// Name is the name the plugin reports.
func (p *Plugin) Name() string { return p.name }

// Path is the plugin binary's path as given to Open.
func (p *Plugin) Path() string { return p.path }

// Kind is the kind the plugin declares.
func (p *Plugin) Kind() sdk.Kind { return p.kind }

// Version is the plugin's own version, for display.
func (p *Plugin) Version() string { return p.version }

// SDKVersion is the SDK version the plugin was built against.
func (p *Plugin) SDKVersion() string { return p.sdkVer }

// Limits are the effective limits.
func (p *Plugin) Limits() limits.Limits { return p.cfg.Limits }

// Permissions are the effective permissions: in HostFunctions, the host
// functions' permissions that the plugin asks for and the configuration
// grants (and, for a pack, its manifest lists).
func (p *Plugin) Permissions() contract.Permissions { return p.perms }

// Exports reports whether the plugin serves function name.
func (p *Plugin) Exports(name string) bool { return p.exports[name] }

// Restarts is how many times the process was started again after it
// crashed or exited.
func (p *Plugin) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts - 1
}

// Close stops the process: go-plugin asks it to shut down and kills it after
// two seconds. Calls in flight fail; later calls fail with contract.ErrClosed.
// A restart under way gives up at once (its process is killed when its start
// returns). Close returns ctx.Err() when ctx is done first, leaving the stop
// to finish in the background; it never waits for a start to finish.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
	}
	c := p.cur
	p.cur = nil
	p.mu.Unlock()
	if c == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { c.kill(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Call runs function with a JSON input and returns its JSON output. The call
// stops at the plugin's timeout or when ctx is done, whichever comes first
// (the error then wraps contract.ErrTimeout, or ctx.Err()); gRPC passes the
// deadline and the cancellation on to the plugin's context. A timeout leaves
// the process running. Errors name the plugin, its path and the function.
// A panic in the host while it handles the plugin's answer is recovered as
// an ErrTransport error, as for the WebAssembly host: a plugin cannot crash
// its host.
func (p *Plugin) Call(ctx context.Context, function string, input []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, p.wrap(function, fmt.Errorf("%w: the host panicked on the plugin's answer: %v", ErrTransport, r))
		}
	}()
	out, err = p.call(ctx, function, input)
	if err != nil {
		return nil, p.wrap(function, err)
	}
	return out, nil
}

// frameOverhead is what protobuf adds around a call's output; the gRPC
// receive limit is the output limit plus this, and the output itself is
// checked exactly.
const frameOverhead = 64

func (p *Plugin) call(ctx context.Context, function string, input []byte) ([]byte, error) {
	if !p.exports[function] {
		return nil, contract.ErrNoFunction
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.sem }()
	c, err := p.conn(ctx)
	if err != nil {
		return nil, err
	}
	req := &pb.CallRequest{Kind: string(p.kind), Function: function, Input: input, MaxOutputBytes: int64(p.cfg.Limits.MaxOutputBytes)}
	maxRecv := p.cfg.Limits.MaxOutputBytes + frameOverhead
	cctx, cancel := context.WithTimeout(ctx, p.cfg.Limits.Timeout)
	var resp *pb.CallResponse
	if c.streams {
		var s *stream
		if s, err = c.callStream(maxRecv); err == nil {
			resp, err = s.call(cctx, req)
		}
	} else {
		resp, err = c.rpc.Call(cctx, req, grpc.MaxCallRecvMsgSize(maxRecv))
	}
	cancel()
	if err != nil {
		return nil, p.classify(ctx, c, err)
	}
	if resp.GetError() != "" {
		if err := p.expired(ctx, cctx); err != nil {
			return nil, err
		}
		if is := wire.Sentinel(resp.GetErrorCode()); is != nil {
			return nil, fmt.Errorf("%w: %w", contract.ErrPluginFailed, &remoteError{msg: resp.GetError(), is: is})
		}
		return nil, fmt.Errorf("%w: %s", contract.ErrPluginFailed, resp.GetError())
	}
	if n := resp.GetOutputTooLarge(); n > 0 {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", contract.ErrOutputLimit, n, p.cfg.Limits.MaxOutputBytes)
	}
	if len(resp.GetOutput()) > p.cfg.Limits.MaxOutputBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", contract.ErrOutputLimit, len(resp.GetOutput()), p.cfg.Limits.MaxOutputBytes)
	}
	return resp.GetOutput(), nil
}

// expired returns the timeout error when the call's deadline (cctx's, the
// caller's or the plugin's timeout) has passed, and nil otherwise. A plugin
// that honours its context reports "context deadline exceeded" at the
// deadline, often a moment before the host's own timer fires: that is the
// host's timeout, not the plugin's failure.
func (p *Plugin) expired(ctx, cctx context.Context) error {
	d, ok := cctx.Deadline()
	if !ok || time.Now().Before(d) {
		return nil
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return fmt.Errorf("%w: no answer after %v", contract.ErrTimeout, p.cfg.Limits.Timeout)
}

// remoteError is a plugin's error that wrapped an sdk sentinel in the
// plugin (CallResponse.error_code): its message, wrapping the same sentinel
// on this side.
type remoteError struct {
	msg string
	is  error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.is }
