package sandbox

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/sdk"
)

// signalTool closes started on its first call.
type signalTool struct {
	once    sync.Once
	started chan struct{}
}

func (s *signalTool) CallTool(context.Context, sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	s.once.Do(func() { close(s.started) })
	return sdk.ToolCallResponse{Content: "ok"}, nil
}

// Episode.Close stops a Run in progress instead of waiting for its timeout;
// the Run fails with ErrClosed.
func TestEpisode_CloseStopsRun(t *testing.T) {
	tool := &signalTool{started: make(chan struct{})}
	s, err := New(context.Background(), Options{
		Interpreter: interpreter(t), CacheDir: cacheDir(), PoolSize: -1,
		Timeout: time.Minute, MaxSteps: 1 << 40,
		ToolSpecs: []sdk.ToolSpec{{Name: "started", Parameters: []byte(`{"type":"object"}`)}}, Tools: tool,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	e, err := s.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() {
		_, err := e.Run(context.Background(), "started()\nwhile True:\n    pass")
		runErr <- err
	}()
	<-tool.started // the loop is (about to be) running
	start := time.Now()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v: it waited for the Run", d)
	}
	if err := <-runErr; !errors.Is(err, ErrClosed) {
		t.Fatalf("Run: err = %v, want ErrClosed", err)
	}
	if _, err := e.Run(context.Background(), "print(1)"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: err = %v, want ErrClosed", err)
	}
}

// The pool's filler logs a failed start and retries after a pause, and Close
// stops it during that pause.
func TestSandbox_FillerLogsFailures(t *testing.T) {
	var mu sync.Mutex
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	s, err := New(context.Background(), Options{Interpreter: interpreter(t), CacheDir: cacheDir(), PoolSize: 1, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	// With the host closed, every load fails; taking the pooled interpreter
	// makes the filler load again.
	s.host.Close(context.Background())
	p, err := s.take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.in.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		got := logs.String()
		mu.Unlock()
		if strings.Count(got, "could not start a pooled interpreter") >= 2 {
			if !strings.Contains(got, "closed") {
				t.Fatalf("log does not say why:\n%s", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the filler's failures were not logged twice:\n%s", got)
		}
	}
	// Drop a pooled instance the filler may have started before the host
	// closed, then stop it in its pause.
	select {
	case p := <-s.pool:
		p.in.Close()
	default:
	}
	start := time.Now()
	s.Close(context.Background())
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
