package goplugin

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
)

// errStreamAborted fails the calls in flight on a stream that the host
// closed because a send could not finish before its call's deadline (the
// process stopped reading its input).
var errStreamAborted = errors.New("call stream aborted: the plugin stopped reading its input")

// stream multiplexes calls on one long-lived gRPC stream (the Stream RPC):
// a call is one message each way instead of a gRPC call's stream, headers
// and trailers. A goroutine reads responses and hands each to its caller
// by id.
type stream struct {
	st     pb.Plugin_StreamClient
	cancel context.CancelFunc // ends the stream

	sendMu sync.Mutex // gRPC allows one sender at a time

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan *pb.CallResponse
	err     error // why the stream ended; set once
	done    chan struct{}
}

// openStream starts a stream whose responses may be up to maxRecv bytes.
func openStream(rpc pb.PluginClient, maxRecv int) (*stream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := rpc.Stream(ctx, grpc.MaxCallRecvMsgSize(maxRecv))
	if err != nil {
		cancel()
		return nil, err
	}
	s := &stream{st: st, cancel: cancel, pending: map[uint64]chan *pb.CallResponse{}, done: make(chan struct{})}
	go s.receive()
	return s, nil
}

// receive hands responses to their callers until the stream ends, then
// fails the calls still waiting with the stream's error.
func (s *stream) receive() {
	for {
		resp, err := s.st.Recv()
		if err != nil {
			s.end(err)
			return
		}
		s.mu.Lock()
		ch := s.pending[resp.GetId()]
		delete(s.pending, resp.GetId())
		s.mu.Unlock()
		if ch != nil { // nil: the caller gave up (cancelled or timed out)
			ch <- resp
		}
	}
}

// end records why the stream ended, wakes every waiting caller and ends the
// stream; the first reason wins.
func (s *stream) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		close(s.done)
	}
	s.pending = map[uint64]chan *pb.CallResponse{}
	s.mu.Unlock()
	s.cancel()
}

// broken returns why the stream ended, or nil while it works.
func (s *stream) broken() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// call sends req and waits for its response, ctx's end or the stream's end.
// When ctx ends first the plugin is told to cancel the call and ctx.Err()
// is returned.
func (s *stream) call(ctx context.Context, req *pb.CallRequest) (*pb.CallResponse, error) {
	ch := make(chan *pb.CallResponse, 1)
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.err
	}
	s.nextID++
	id := s.nextID
	s.pending[id] = ch
	s.mu.Unlock()

	req.Id = id
	if deadline, ok := ctx.Deadline(); ok {
		req.TimeoutNanos = max(int64(time.Until(deadline)), 1)
	}
	if err := s.send(ctx, req); err != nil {
		s.forget(id)
		return nil, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-s.done:
		// The response may have been handed over just before the end.
		select {
		case resp := <-ch:
			return resp, nil
		default:
		}
		return nil, s.broken()
	case <-ctx.Done():
		s.forget(id)
		// Best effort: a plugin that gets the cancel stops work sooner;
		// one that does not answers into the void.
		_ = s.send(context.Background(), &pb.CallRequest{Id: id, Cancel: true})
		return nil, ctx.Err()
	}
}

// sendGrace is how long a send may stay blocked after its call's deadline
// before the stream is aborted.
const sendGrace = 50 * time.Millisecond

// send sends one message. A send blocks only when HTTP/2 flow control is
// out of credit, that is when the plugin stopped reading (or behind another
// such send). If it is still blocked sendGrace after ctx ended, the stream
// is aborted, failing every call on it, rather than leaving the caller stuck
// past its deadline.
func (s *stream) send(ctx context.Context, req *pb.CallRequest) error {
	var sent atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(sendGrace, func() {
			if !sent.Load() {
				s.end(errStreamAborted)
			}
		})
	})
	s.sendMu.Lock()
	err := s.st.Send(req)
	s.sendMu.Unlock()
	sent.Store(true)
	stop()
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		// Send reports a broken stream as io.EOF; Recv has the status.
		<-s.done
		return s.broken()
	}
	return nil
}

func (s *stream) forget(id uint64) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// close ends the stream; calls still waiting fail.
func (s *stream) close() { s.end(errStreamClosed) }

var errStreamClosed = errors.New("call stream closed")
