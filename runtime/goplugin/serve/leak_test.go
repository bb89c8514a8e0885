package serve

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/sdk"
)

// childCounter is a stream's context that counts the contexts derived from
// it that are still registered with it: context.WithCancel and WithTimeout
// register a child through AfterFunc and stop it when the child is
// cancelled, so a child whose cancel func is never called stays counted.
type childCounter struct {
	context.Context // a cancellable root, for Done and Err

	mu   sync.Mutex
	live int
}

// Value carries the host (as Server.Stream expects of a connected stream)
// and nothing else: in particular not the root's cancelCtx, which would let
// the context package bypass AfterFunc.
func (c *childCounter) Value(key any) any {
	if key == (hostKey{}) {
		return (*HostClient)(nil)
	}
	return nil
}

func (c *childCounter) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	c.live++
	c.mu.Unlock()
	stop := context.AfterFunc(c.Context, f)
	var once sync.Once
	return func() bool {
		once.Do(func() {
			c.mu.Lock()
			c.live--
			c.mu.Unlock()
		})
		return stop()
	}
}

func (c *childCounter) children() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// fakeStream is the plugin side of a call stream, fed from a channel.
type fakeStream struct {
	grpc.ServerStream
	ctx  context.Context
	in   chan *pb.CallRequest
	sent chan *pb.CallResponse
}

func (f *fakeStream) Context() context.Context { return f.ctx }

func (f *fakeStream) Recv() (*pb.CallRequest, error) {
	req, ok := <-f.in
	if !ok {
		return nil, io.EOF
	}
	return req, nil
}

func (f *fakeStream) Send(resp *pb.CallResponse) error {
	f.sent <- resp
	return nil
}

// Every streamed call's context is released when the call returns: after N
// calls, with the host's timeout or without, no child of the stream's
// context is left (a WithCancel whose cancel func was replaced by a
// WithTimeout's would leave one per call, alive for the stream's life).
func TestServer_Stream_ReleasesCallContexts(t *testing.T) {
	const n = 200
	tests := []struct {
		name    string
		timeout time.Duration
	}{
		{name: "with the host's timeout", timeout: time.Minute},
		{name: "without a timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewServer(Plugin{Name: "tools", Kind: sdk.KindTool, Tool: panicky{}})
			if err != nil {
				t.Fatal(err)
			}
			root, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx := &childCounter{Context: root}
			st := &fakeStream{ctx: ctx, in: make(chan *pb.CallRequest), sent: make(chan *pb.CallResponse, n)}
			done := make(chan error, 1)
			go func() { done <- wireOf(s).Stream(st) }()
			in, _ := json.Marshal(sdk.ToolCallRequest{Name: "echo"})
			for i := 1; i <= n; i++ {
				st.in <- &pb.CallRequest{Id: uint64(i), Kind: string(sdk.KindTool), Function: sdk.ToolFunction, Input: in,
					TimeoutNanos: int64(tt.timeout)}
			}
			for i := 0; i < n; i++ {
				if resp := <-st.sent; resp.GetError() != "" {
					t.Fatalf("call %d: %s", resp.GetId(), resp.GetError())
				}
			}
			// Every response is sent after its call's cancel func ran.
			if live := ctx.children(); live != 0 {
				t.Fatalf("%d of %d calls' contexts still registered with the stream's after they returned", live, n)
			}
			close(st.in)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
