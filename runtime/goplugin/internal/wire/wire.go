// Package wire is what both ends of the go-plugin transport must agree on:
// the handshake and the one gRPC plugin of the plugin set.
package wire

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/toolbrain/toolbrain/sdk"
	pb "github.com/toolbrain/toolbrain/sdk/proto"
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
// Impl, and the host gets a pb.PluginClient from GRPCClient.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl pb.PluginServer
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the plugin's service.
func (g *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if g.Impl == nil {
		return fmt.Errorf("toolbrain go-plugin: no server implementation")
	}
	pb.RegisterPluginServer(s, g.Impl)
	return nil
}

// GRPCClient returns a pb.PluginClient on the connection.
func (g *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pb.NewPluginClient(c), nil
}

// window is gRPC's flow-control window on both ends. Setting it turns off
// gRPC's bandwidth-delay-product estimation, which pings the peer on
// received data: on a local socket the pings only cost wake-ups (measured
// here, alternating runs: about 10% off a round trip).
const window = 1 << 20

// DialOptions are the host's gRPC options.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(window),
		grpc.WithInitialConnWindowSize(window),
	}
}

// ServerOptions are the plugin's gRPC options; maxInput caps one request.
func ServerOptions(maxInput int) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxInput),
		grpc.InitialWindowSize(window),
		grpc.InitialConnWindowSize(window),
	}
}
