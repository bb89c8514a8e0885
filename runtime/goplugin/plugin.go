package goplugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/toolbrain/toolbrain/runtime"
	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/runtime/goplugin/internal/wire"
	"github.com/toolbrain/toolbrain/runtime/internal/typed"
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
	perms   runtime.Permissions // the host functions it may call

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

// conn is one running process and its gRPC client.
type conn struct {
	client  *plugin.Client
	cmd     *exec.Cmd
	rpc     pb.PluginClient
	streams bool // the plugin serves Stream (its Info says so)
	stderr  *lineTail
	kill    func()       // also closes the stream and stops host
	host    *grpc.Server // the Host service of this process; nil when none

	mu     sync.Mutex
	stream *stream // nil until the first call, replaced when it breaks
}

// callStream returns the conn's call stream, opening a new one when there
// is none or the last one broke (an oversize response, say) while the
// process lives on.
func (c *conn) callStream(maxRecv int) (*stream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil && c.stream.broken() == nil {
		return c.stream, nil
	}
	s, err := openStream(c.rpc, maxRecv)
	if err != nil {
		return nil, err
	}
	c.stream = s
	return s, nil
}

func (c *conn) closeStream() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil {
		c.stream.close()
	}
}

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
	p.perms = runtime.Permissions{HostFunctions: effective(info.GetHostFunctions(), cfg.Grant, cfg.manifest)}
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
func (p *Plugin) Limits() runtime.Limits { return p.cfg.Limits }

// Permissions are the effective permissions: in HostFunctions, the host
// functions' permissions that the plugin asks for and the configuration
// grants (and, for a pack, its manifest lists).
func (p *Plugin) Permissions() runtime.Permissions { return p.perms }

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
// two seconds. Calls in flight fail; later calls fail with runtime.ErrClosed.
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
// (the error then wraps runtime.ErrTimeout, or ctx.Err()); gRPC passes the
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
		return nil, runtime.ErrNoFunction
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
			return nil, fmt.Errorf("%w: %w", runtime.ErrPluginFailed, &remoteError{msg: resp.GetError(), is: is})
		}
		return nil, fmt.Errorf("%w: %s", runtime.ErrPluginFailed, resp.GetError())
	}
	if n := resp.GetOutputTooLarge(); n > 0 {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", runtime.ErrOutputLimit, n, p.cfg.Limits.MaxOutputBytes)
	}
	if len(resp.GetOutput()) > p.cfg.Limits.MaxOutputBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", runtime.ErrOutputLimit, len(resp.GetOutput()), p.cfg.Limits.MaxOutputBytes)
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
	return fmt.Errorf("%w: no answer after %v", runtime.ErrTimeout, p.cfg.Limits.Timeout)
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

// conn returns the running process, starting a new one when the last one
// exited. One goroutine restarts at a time; the others wait for it (or for
// their ctx) and then look again. p.mu is held only to read and change the
// state, so Close is never held up by a start.
func (p *Plugin) conn(ctx context.Context) (*conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, runtime.ErrClosed
		}
		if c := p.cur; c != nil && !c.client.Exited() {
			p.mu.Unlock()
			return c, nil
		}
		if wait := p.starting; wait != nil {
			p.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		old := p.cur
		p.cur = nil
		done := make(chan struct{})
		p.starting = done
		p.mu.Unlock()

		c, err := p.restart(ctx, old)

		p.mu.Lock()
		p.starting = nil
		close(done)
		closed := p.closed
		if err == nil && !closed {
			p.cur = c
			p.starts++
		}
		p.mu.Unlock()
		switch {
		case err != nil:
			return nil, err
		case closed:
			c.kill()
			return nil, runtime.ErrClosed
		}
		return c, nil
	}
}

// restart stops old, a process that exited, and starts a new one that must
// be the same plugin. It runs without p.mu.
func (p *Plugin) restart(ctx context.Context, old *conn) (*conn, error) {
	if old != nil {
		// Exited between calls: nothing was lost, so restart quietly.
		p.cfg.Logger.Warn("go-plugin process exited; restarting", "plugin", p.name, "path", p.path, "exit", exitStatus(old))
		old.kill()
	}
	c, info, err := p.start(ctx)
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	if sdk.Kind(info.GetKind()) != p.kind || info.GetName() != p.name {
		c.kill()
		return nil, fmt.Errorf("%w: restarted process is %s plugin %q, was %s plugin %q (binary replaced?)",
			ErrStart, info.GetKind(), info.GetName(), p.kind, p.name)
	}
	return c, nil
}

// hostProtocol is go-plugin's protocol version for this host's SDK.
func hostProtocol() (uint, error) { return wire.ProtocolVersion(sdk.Version) }

// start starts a process, dispenses the client and checks Info.
func (p *Plugin) start(ctx context.Context) (*conn, *pb.InfoResponse, error) {
	protocol, err := hostProtocol()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(p.path, p.cfg.Args...)
	// The host's environment first, then GOMAXPROCS=1 (see "Cost" in the
	// package doc), then Env, which overrides both (exec keeps the last value
	// of a name); go-plugin then adds its own handshake values.
	cmd.Env = append(append(os.Environ(), "GOMAXPROCS=1"), p.cfg.Env...)
	tail := newLineTail(8)
	stdio := func(stream string) *lineWriter {
		return &lineWriter{emit: func(line string) {
			tail.add(line)
			p.cfg.Logger.Debug(line, "plugin", p.name, "stream", stream)
		}}
	}
	hl := newHCLogger(p.log)
	var secure *plugin.SecureConfig
	if p.cfg.SHA256 != "" {
		sum, err := hex.DecodeString(p.cfg.SHA256)
		if err != nil || len(sum) != sha256.Size {
			return nil, nil, fmt.Errorf("plugin %s: %w: sha256 %q is not 64 hex digits", p.path, runtime.ErrBadConfig, p.cfg.SHA256)
		}
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		SecureConfig:     secure,
		HandshakeConfig:  wire.Handshake(protocol),
		Plugins:          plugin.PluginSet{wire.PluginName: &wire.GRPCPlugin{}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Cmd:              cmd,
		SkipHostEnv:      true,
		StartTimeout:     p.cfg.StartTimeout,
		Logger:           hl,
		Stderr:           &lineWriter{emit: tail.addRaw},
		SyncStdout:       stdio("stdout"),
		SyncStderr:       stdio("stderr"),
		GRPCDialOptions:  wire.DialOptions(),
	})
	var once sync.Once
	c := &conn{client: client, cmd: cmd, stderr: tail}
	c.kill = func() {
		once.Do(func() {
			hl.stopping.Store(true)
			c.closeStream()
			if c.host != nil {
				c.host.Stop()
			}
			client.Kill()
		})
	}
	fail := func(err error) (*conn, *pb.InfoResponse, error) {
		c.kill()
		return nil, nil, err
	}
	proto, err := p.handshake(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	raw, err := proto.Dispense(wire.PluginName)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrStart, err))
	}
	wc, ok := raw.(*wire.Client)
	if !ok {
		return fail(fmt.Errorf("%w: dispensed %T, not a plugin client", ErrStart, raw))
	}
	rpc := wc.Plugin
	c.rpc = rpc
	ictx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	// The Host service must be up before Info, which tells the plugin
	// where it is; it serves only when something is granted.
	req := &pb.InfoRequest{HostSdkVersion: sdk.Version, Config: p.cfg.Config, Granted: granted(p.cfg.Grant)}
	var hs *hostService
	if len(req.Granted) > 0 {
		hs = newHostService(p.cfg, p.path)
		if c.host, req.HostBrokerId, err = serveHost(ictx, wc.Broker, hs); err != nil {
			return fail(fmt.Errorf("%w: serve host functions to the plugin: %w%s", ErrStart, err, tail.suffix()))
		}
	}
	info, err := rpc.Info(ictx, req)
	if err != nil && ctx.Err() != nil {
		// gRPC's status error does not wrap the context's.
		return fail(fmt.Errorf("%w: info: %w", ErrStart, ctx.Err()))
	}
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() == codes.FailedPrecondition {
			return fail(fmt.Errorf("%w: %s", ErrStart, st.Message()))
		}
		return fail(fmt.Errorf("%w: info: %w%s", ErrStart, err, tail.suffix()))
	}
	if err := sdk.Negotiate(sdk.Version, info.GetSdkVersion()); err != nil {
		return fail(fmt.Errorf("plugin %q: %w", info.GetName(), err))
	}
	kind := sdk.Kind(info.GetKind())
	switch {
	case !kind.Valid():
		return fail(fmt.Errorf("%w: plugin %q declares unknown kind %q", ErrStart, info.GetName(), kind))
	case p.cfg.Kind != "" && kind != p.cfg.Kind:
		return fail(fmt.Errorf("%w: plugin %q is a %s plugin, configured as %s", runtime.ErrBadConfig, info.GetName(), kind, p.cfg.Kind))
	}
	c.streams = info.GetStream()
	if hs != nil {
		hs.setInfo(info)
		if !slices.ContainsFunc(info.GetHostFunctions(), p.cfg.Grant.Has) {
			// The plugin asks for nothing granted: it never dials.
			c.host.Stop()
		}
	}
	return c, info, nil
}

// handshake starts c's process and waits for go-plugin's handshake, or for
// ctx's end or Close, whichever comes first. go-plugin's start cannot be
// interrupted (it holds the client's lock until the process answers or
// StartTimeout passes), so a start given up on finishes in the background
// and its process is killed then. On error c is killed or being killed.
func (p *Plugin) handshake(ctx context.Context, c *conn) (plugin.ClientProtocol, error) {
	if err := ctx.Err(); err != nil {
		c.kill()
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	type result struct {
		proto plugin.ClientProtocol
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		proto, err := c.client.Client()
		ch <- result{proto, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			c.kill()
			return nil, startError(r.err, c.stderr)
		}
		return r.proto, nil
	case <-ctx.Done():
		go func() { <-ch; c.kill() }()
		return nil, fmt.Errorf("%w: %w", ErrStart, ctx.Err())
	case <-p.closing:
		go func() { <-ch; c.kill() }()
		return nil, runtime.ErrClosed
	}
}

var pluginProtocolRE = regexp.MustCompile(`Plugin version: (\d+)`)

// startError turns go-plugin's start errors into ours; the handshake's
// protocol mismatch becomes sdk.ErrIncompatibleVersion with both versions.
func startError(err error, tail *lineTail) error {
	msg := err.Error()
	if strings.Contains(msg, "incompatible API version") {
		theirs := "?"
		if m := pluginProtocolRE.FindStringSubmatch(msg); m != nil {
			theirs = m[1]
		}
		major, _, _ := sdk.ParseVersion(sdk.Version)
		return fmt.Errorf("%w: plugin was built for SDK %s.x (go-plugin protocol %s), host speaks SDK %s; rebuild the plugin against SDK %d.x",
			sdk.ErrIncompatibleVersion, theirs, theirs, sdk.Version, major)
	}
	// err stays in the chain: go-plugin's sentinels (a checksum mismatch is
	// plugin.ErrChecksumsDoNotMatch) remain testable with errors.Is.
	return fmt.Errorf("%w: %w%s", ErrStart, err, tail.suffix())
}

// classify turns a failed gRPC call into the runtime's error, the caller's
// cancellation first.
func (p *Plugin) classify(ctx context.Context, c *conn, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: no answer after %v", runtime.ErrTimeout, p.cfg.Limits.Timeout)
	case errors.Is(err, errStreamAborted):
		return fmt.Errorf("%w: %w", runtime.ErrTimeout, err)
	case errors.Is(err, errStreamClosed):
		return p.crashed(c, err.Error())
	}
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w: no answer after %v", runtime.ErrTimeout, p.cfg.Limits.Timeout)
	case codes.ResourceExhausted:
		return fmt.Errorf("%w: %s", runtime.ErrOutputLimit, st.Message())
	case codes.Unimplemented:
		return fmt.Errorf("%w: %s", runtime.ErrNoFunction, st.Message())
	case codes.Unavailable, codes.Canceled:
		return p.crashed(c, st.Message())
	}
	// Other codes (Internal on a torn frame, say) are a crash when the
	// process is going away.
	if waitExited(c, 200*time.Millisecond) {
		return p.crashed(c, st.Message())
	}
	return fmt.Errorf("%w: %w", ErrTransport, err)
}

// waitExited waits up to d for go-plugin to reap the process and reports
// whether it did.
func waitExited(c *conn, d time.Duration) bool {
	for deadline := time.Now().Add(d); !c.client.Exited(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// crashed drops a process that died (or whose connection broke) during a
// call, so that the next call starts a new one, and describes the crash.
func (p *Plugin) crashed(c *conn, msg string) error {
	p.mu.Lock()
	if p.cur == c {
		p.cur = nil
	}
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return runtime.ErrClosed
	}
	// The connection breaks a moment before the process is reaped; wait
	// for the exit status, which says more than "EOF". A process that
	// lost its connection but lives on is killed after the wait.
	waitExited(c, 3*time.Second)
	c.kill()
	p.cfg.Logger.Warn("go-plugin process crashed; it restarts on the next call", "plugin", p.name, "path", p.path, "exit", exitStatus(c))
	return fmt.Errorf("%w: %s (%s)%s", ErrCrashed, exitStatus(c), msg, c.stderr.suffix())
}

// exitStatus describes how the process ended, once go-plugin has reaped it.
func exitStatus(c *conn) string {
	if !c.client.Exited() || c.cmd.ProcessState == nil {
		return "connection lost"
	}
	return c.cmd.ProcessState.String()
}

// lineTail keeps the last lines a process wrote to stderr, for error
// messages. go-plugin's own log lines (hclog JSON) are skipped: they reach
// the logger anyway.
type lineTail struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func newLineTail(max int) *lineTail { return &lineTail{max: max} }

func (t *lineTail) addRaw(line string) {
	if strings.HasPrefix(line, `{"@`) {
		return
	}
	t.add(line)
}

func (t *lineTail) add(line string) {
	const maxLine = 300
	if len(line) > maxLine {
		line = line[:maxLine] + "..."
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// After a panic's first line come goroutine stacks; keep the panic.
	if len(t.lines) > 0 && isPanic(t.lines[0]) {
		if len(t.lines) < t.max {
			t.lines = append(t.lines, line)
		}
		return
	}
	if isPanic(line) {
		t.lines = t.lines[:0]
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-t.max:]...)
	}
}

func isPanic(line string) bool {
	return strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")
}

func (t *lineTail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "; plugin stderr: " + strings.Join(t.lines, " | ")
}
