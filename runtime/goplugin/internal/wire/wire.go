// Package wire is what both ends of the go-plugin transport must agree on:
// the handshake, the one gRPC plugin of the plugin set, and how a call to a
// host function is refused.
package wire

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/sdk"
)

// PluginName is the only entry of the plugin set. One set, one entry, one
// protocol: mixing net/rpc and gRPC plugins in one set was seen to fail at
// random, so both ends offer gRPC alone.
const PluginName = "toolbrain"

// The magic cookie is not security: it tells a user who runs a plugin binary
// by hand that it is meant to be started by toolbrain.
const (
	MagicCookieKey   = "TOOLBRAIN_PLUGIN_COOKIE"
	MagicCookieValue = "8c4b1f0e-toolbrain-plugin"
)

// ProtocolVersion is go-plugin's application protocol version for an SDK
// version: its major. go-plugin refuses a plugin of another major before a
// single call; minors are then negotiated with sdk.Negotiate on Info.
func ProtocolVersion(sdkVersion string) (uint, error) {
	major, _, err := sdk.ParseVersion(sdkVersion)
	if err != nil {
		return 0, err
	}
	if major <= 0 {
		// go-plugin treats protocol version 0 as unset.
		return 0, fmt.Errorf("%w: SDK major version %d cannot be a go-plugin protocol version", sdk.ErrBadVersion, major)
	}
	return uint(major), nil
}

// Handshake is the go-plugin handshake of a protocol version.
func Handshake(protocol uint) plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  protocol,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// GRPCPlugin is the plugin of the set, on both ends: the plugin process sets
// Impl, and the host gets a [*Client] from GRPCClient.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin process's service; nil on the host's side.
	Impl pb.PluginServer
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// BrokerUser is an Impl that reaches the host's Host service: GRPCServer
// hands it the plugin side's broker before serving.
type BrokerUser interface {
	// UseBroker keeps b, the broker on which the plugin dials the host's
	// Host service; it is called once, before the first call is served.
	UseBroker(b *plugin.GRPCBroker)
}

// Service is the plugin side of a process: its gRPC service and the broker
// user that reaches the host's Host service.
type Service interface {
	pb.PluginServer
	BrokerUser
}

// PluginServerOf returns the Service of a *serve.Server. Package serve sets
// it when it is initialised, so that runtime/goplugin's tests can serve a
// serve.Server over a wire of their own (a plugin from before Stream, say)
// while serve's exported API names no wire types (grpc's internal hooks do
// the same).
var PluginServerOf func(server any) Service

// GRPCServer registers the plugin's service.
func (g *GRPCPlugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	if g.Impl == nil {
		return fmt.Errorf("toolbrain go-plugin: no server implementation")
	}
	if u, ok := g.Impl.(BrokerUser); ok {
		u.UseBroker(b)
	}
	pb.RegisterPluginServer(s, g.Impl)
	return nil
}

// Client is what the host dispenses: the plugin's service and the broker on
// which the host serves its Host service to the process.
type Client struct {
	// Plugin is the client of the plugin process's Plugin service.
	Plugin pb.PluginClient
	// Broker is go-plugin's broker on this connection: the host serves its
	// Host service on it for the process to dial.
	Broker *plugin.GRPCBroker
}

// GRPCClient returns a [*Client] on the connection.
func (g *GRPCPlugin) GRPCClient(_ context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{Plugin: pb.NewPluginClient(c), Broker: b}, nil
}

// MaxMessageBytes caps one host function request the host accepts (gRPC's
// default is 4 MiB; an LLM request quoting many long traces can pass that),
// as serve.MaxInputBytes caps a plugin's requests.
const MaxMessageBytes = 256 << 20

// HostFunctions maps the permission names a go-plugin plugin may ask for to
// the host function each allows. Logging and configuration need no
// permission in a process.
var HostFunctions = map[string]string{
	sdk.PermissionTool: sdk.HostCallTool,
	sdk.PermissionLLM:  sdk.HostLLM,
}

// permissionConst is the Go name of a permission, for messages that tell a
// plugin author what to write.
var permissionConst = map[string]string{
	sdk.PermissionTool: "sdk.PermissionTool",
	sdk.PermissionLLM:  "sdk.PermissionLLM",
}

// Denial says why a plugin may not call a host function and what to do
// about it. Both ends refuse calls with it, so the message reads the same
// wherever the call was stopped.
type Denial struct {
	Plugin     string // the plugin's name
	Permission string // sdk.PermissionTool or sdk.PermissionLLM
	// NotAsked: the plugin does not list the permission in
	// serve.Plugin.HostFunctions.
	NotAsked bool
	// NotInManifest: the plugin's pack manifest does not list it.
	NotInManifest bool
	// NotGranted: the host's configuration does not grant it.
	NotGranted bool
}

// String is the denial's message: the plugin, the function, the permission
// and each fix.
func (d Denial) String() string {
	var fix []string
	if d.NotAsked {
		name := permissionConst[d.Permission]
		if name == "" {
			name = fmt.Sprintf("%q", d.Permission)
		}
		fix = append(fix, fmt.Sprintf("the plugin does not ask for it (add %s to serve.Plugin.HostFunctions)", name))
	}
	if d.NotInManifest {
		fix = append(fix, fmt.Sprintf("its pack's manifest does not ask for it (add %q to host_functions under [permissions] in toolpack.toml)", d.Permission))
	}
	if d.NotGranted {
		fix = append(fix, fmt.Sprintf("the configuration does not grant it (add %q to the plugin's grant.host_functions)", d.Permission))
	}
	return fmt.Sprintf("plugin %q may not call %s, which needs permission %q: %s",
		d.Plugin, HostFunctions[d.Permission], d.Permission, strings.Join(fix, "; "))
}

// ErrorCodePermissionDenied is CallResponse.error_code for an error that
// wraps sdk.ErrPermissionDenied.
const ErrorCodePermissionDenied = "permission_denied"

// ErrorCode is the CallResponse.error_code of a plugin's error: the code of
// the sdk sentinel it wraps, or "".
func ErrorCode(err error) string {
	if errors.Is(err, sdk.ErrPermissionDenied) {
		return ErrorCodePermissionDenied
	}
	return ""
}

// Sentinel is the sdk sentinel of an error code, or nil.
func Sentinel(code string) error {
	if code == ErrorCodePermissionDenied {
		return sdk.ErrPermissionDenied
	}
	return nil
}

// window is gRPC's flow-control window on both ends. Setting it turns off
// gRPC's bandwidth-delay-product estimation, which pings the peer on
// received data: on a local socket the pings only cost wake-ups (measured
// here, alternating runs: about 10% off a round trip).
const window = 1 << 20

// DialOptions are the gRPC options of the connection that dials: the host's
// to the plugin, the plugin's to the host's Host service.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(window),
		grpc.WithInitialConnWindowSize(window),
	}
}

// ServerOptions are the gRPC options of a server: the plugin's, and the
// host's Host service; maxInput caps one request.
func ServerOptions(maxInput int) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxInput),
		grpc.InitialWindowSize(window),
		grpc.InitialConnWindowSize(window),
	}
}
