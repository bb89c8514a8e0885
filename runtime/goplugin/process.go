package goplugin

// The plugin process: its connection, (re)start with the handshake and
// version checks, and what a failed start or a crash is classified as.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/toolbrain/toolbrain/runtime/contract"
	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/runtime/goplugin/internal/wire"
	"github.com/toolbrain/toolbrain/sdk"
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

// conn returns the running process, starting a new one when the last one
// exited. One goroutine restarts at a time; the others wait for it (or for
// their ctx) and then look again. p.mu is held only to read and change the
// state, so Close is never held up by a start.
func (p *Plugin) conn(ctx context.Context) (*conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, contract.ErrClosed
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
			return nil, contract.ErrClosed
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
			return nil, nil, fmt.Errorf("plugin %s: %w: sha256 %q is not 64 hex digits", p.path, contract.ErrBadConfig, p.cfg.SHA256)
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
		return fail(fmt.Errorf("%w: plugin %q is a %s plugin, configured as %s", contract.ErrBadConfig, info.GetName(), kind, p.cfg.Kind))
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
		return nil, contract.ErrClosed
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

// classify turns a failed gRPC call into the contract's error, the caller's
// cancellation first.
func (p *Plugin) classify(ctx context.Context, c *conn, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: no answer after %v", contract.ErrTimeout, p.cfg.Limits.Timeout)
	case errors.Is(err, errStreamAborted):
		return fmt.Errorf("%w: %w", contract.ErrTimeout, err)
	case errors.Is(err, errStreamClosed):
		return p.crashed(c, err.Error())
	}
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w: no answer after %v", contract.ErrTimeout, p.cfg.Limits.Timeout)
	case codes.ResourceExhausted:
		return fmt.Errorf("%w: %s", contract.ErrOutputLimit, st.Message())
	case codes.Unimplemented:
		return fmt.Errorf("%w: %s", contract.ErrNoFunction, st.Message())
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
		return contract.ErrClosed
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
