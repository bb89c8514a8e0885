package serve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/runtime/goplugin/internal/wire"
)

// grpcServer is the gRPC service of a [Server]: the wire side of a plugin
// process, which [Serve] registers with go-plugin. It is unexported so that
// the generated wire types stay internal; runtime/goplugin's tests reach it
// through wire.PluginServerOf.
type grpcServer struct {
	pb.UnimplementedPluginServer
	s *Server
}

func init() {
	wire.PluginServerOf = func(server any) wire.Service { return &grpcServer{s: server.(*Server)} }
}

// UseBroker is called by [Serve], through go-plugin (wire.BrokerUser), with the broker on
// which the plugin reaches the host's Host service. Plugins never call it.
func (g *grpcServer) UseBroker(b *plugin.GRPCBroker) {
	g.s.mu.Lock()
	g.s.broker = b
	g.s.mu.Unlock()
}

// Info implements pb.PluginServer. After Configure it connects to the
// host's Host service when the host grants a permission the plugin asks
// for, so that [Host] works in the calls that follow.
func (g *grpcServer) Info(_ context.Context, req *pb.InfoRequest) (*pb.InfoResponse, error) {
	s := g.s
	if s.p.Configure != nil {
		if err := s.p.Configure(req.GetConfig()); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "configure: %v", err)
		}
	}
	s.connectHost(req)
	return &pb.InfoResponse{
		Name:          s.p.Name,
		Version:       s.p.Version,
		Kind:          string(s.p.Kind),
		SdkVersion:    s.sdkVersion,
		Functions:     s.names,
		Stream:        true,
		HostFunctions: s.host.asked,
	}, nil
}

// connectHost dials the host's Host service on the broker id of req when
// the host grants a permission the plugin asks for. It dials now, not on
// the first host call, because go-plugin forgets a broker id that nobody
// dials within five seconds. A failure is kept for the host calls to
// report: the plugin's other functions work without the host.
func (s *Server) connectHost(req *pb.InfoRequest) {
	c := &hostConn{granted: slices.Clone(req.GetGranted())}
	need := slices.ContainsFunc(s.host.asked, func(perm string) bool { return slices.Contains(c.granted, perm) })
	if id := req.GetHostBrokerId(); need && id != 0 {
		s.mu.Lock()
		b := s.broker
		s.mu.Unlock()
		if b == nil {
			c.err = errors.New("no go-plugin broker to reach the host through: the plugin is not served by serve.Serve")
		} else if cc, err := b.DialWithOptions(id, wire.DialOptions()...); err != nil {
			c.err = fmt.Errorf("connect to the host's service (broker id %d): %w", id, err)
		} else {
			c.cc, c.rpc = cc, pb.NewHostClient(cc)
		}
	}
	if old := s.host.conn.Swap(c); old != nil && old.cc != nil {
		_ = old.cc.Close()
	}
}

// Call implements pb.PluginServer: [Server.Call] with the function's
// failure in the response (and its sdk sentinel as an error code), an
// unknown function as codes.Unimplemented, and an output over the host's
// limit as its size alone.
func (g *grpcServer) Call(ctx context.Context, req *pb.CallRequest) (*pb.CallResponse, error) {
	return g.s.call(ctx, req)
}

// call is Call on the wire types.
func (s *Server) call(ctx context.Context, req *pb.CallRequest) (*pb.CallResponse, error) {
	if s.fns[req.GetFunction()] == nil {
		return nil, status.Errorf(codes.Unimplemented, "plugin %q does not serve function %q", s.p.Name, req.GetFunction())
	}
	out, ferr := s.Call(ctx, req.GetFunction(), req.GetInput())
	if ferr != nil {
		return &pb.CallResponse{Error: ferr.Error(), ErrorCode: wire.ErrorCode(ferr)}, nil
	}
	if max := req.GetMaxOutputBytes(); max > 0 && int64(len(out)) > max {
		return &pb.CallResponse{OutputTooLarge: int64(len(out))}, nil
	}
	return &pb.CallResponse{Output: out}, nil
}

// Stream implements pb.PluginServer: it reads calls off the stream and runs
// each in its own goroutine, so that a slow call does not hold up the
// others, and sends each response when its call returns. The calls reach
// the host with [Host](ctx), as in Call.
func (g *grpcServer) Stream(st pb.Plugin_StreamServer) error {
	s := g.s
	var (
		mu      sync.Mutex // guards cancels and closed, and serialises Send
		cancels = map[uint64]context.CancelFunc{}
		closed  bool
		// The calls' contexts carry the host from one parent, so that a
		// call pays nothing for it.
		base = st.Context()
	)
	if _, ok := base.Value(hostKey{}).(*HostClient); !ok {
		base = context.WithValue(base, hostKey{}, s.host)
	}
	defer func() {
		// No Send after the handler returns (gRPC forbids it); the calls
		// still running see their contexts cancelled.
		mu.Lock()
		closed = true
		for _, cancel := range cancels {
			cancel()
		}
		mu.Unlock()
	}()
	for {
		req, err := st.Recv()
		if err != nil {
			return nil // the host closed the stream or went away
		}
		id := req.GetId()
		if req.GetCancel() {
			mu.Lock()
			if cancel := cancels[id]; cancel != nil {
				cancel()
			}
			mu.Unlock()
			continue
		}
		// One context and one cancel func per call: a WithCancel replaced
		// by a WithTimeout would leave the first context's cancel uncalled,
		// a child of base alive for the stream's whole life.
		var ctx context.Context
		var cancel context.CancelFunc
		if t := req.GetTimeoutNanos(); t > 0 {
			ctx, cancel = context.WithTimeout(base, time.Duration(t))
		} else {
			ctx, cancel = context.WithCancel(base)
		}
		mu.Lock()
		cancels[id] = cancel
		mu.Unlock()
		go func() {
			resp, err := s.call(ctx, req)
			if err != nil {
				resp = &pb.CallResponse{Error: status.Convert(err).Message()}
			}
			resp.Id = id
			mu.Lock()
			defer mu.Unlock()
			delete(cancels, id)
			cancel()
			if !closed {
				_ = st.Send(resp) // fails only when the stream is gone
			}
		}()
	}
}
