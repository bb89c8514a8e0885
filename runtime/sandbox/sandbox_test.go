package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEpisode_Run(t *testing.T) {
	s := newSandbox(t, Options{})
	ctx := context.Background()
	e, err := s.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	r, err := e.Run(ctx, "import json\ntotal = add(2, b=3.5)\nprint(f'{total:.1f}', echo(text='hi'))\nnotes = [total]")
	if err != nil || r.Err != nil {
		t.Fatalf("run: %v %+v", err, r)
	}
	if r.Output != "5.5 hi\n" || r.Steps <= 0 || r.WallTime <= 0 || r.FinalAnswer != nil {
		t.Fatalf("got %+v", r)
	}
	want := []ToolCall{
		{Name: "add", Arguments: json.RawMessage(`{"a":2,"b":3.5}`), Content: "5.5", Data: json.RawMessage("5.5")},
		{Name: "echo", Arguments: json.RawMessage(`{"text":"hi"}`), Content: "hi"},
	}
	got, _ := json.Marshal(r.ToolCalls)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Fatalf("tool calls\n got %s\nwant %s", got, wantJSON)
	}

	// The next turn sees the globals of the first.
	r, _ = e.Run(ctx, "notes.append(len(notes))\nprint(notes)\nfinal_answer(json.dumps(notes))")
	if r.Err != nil || r.Output != "[5.5, 1]\n" || r.FinalAnswer == nil || *r.FinalAnswer != "[5.5, 1]" {
		t.Fatalf("got %+v", r)
	}
	if _, err := e.Run(ctx, "print(1)"); !errors.Is(err, ErrEpisodeDone) {
		t.Fatalf("run after final_answer: %v, want ErrEpisodeDone", err)
	}

	// A new episode starts from nothing.
	e2, err := s.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	r, _ = e2.Run(ctx, "print(notes)")
	if !errors.Is(r.Err, ErrSyntax) || r.Error != "line 1: undefined: notes" || r.ErrorLine != 1 {
		t.Fatalf("got %+v", r)
	}
	if r.Observation() != "Error: line 1: undefined: notes" {
		t.Fatalf("observation %q", r.Observation())
	}
}

func TestEpisode_StateLostAfterTimeout(t *testing.T) {
	// The timeout also bounds starting an instance, which takes ~35 ms
	// on a quiet machine and several hundred on a loaded one: 2 s keeps
	// the test about the loop, not about the machine.
	s := newSandbox(t, Options{Timeout: 2 * time.Second, MaxSteps: 1 << 40})
	ctx := context.Background()
	e, _ := s.Start(ctx)
	defer e.Close()
	if r, _ := e.Run(ctx, "x = 1"); r.Err != nil {
		t.Fatal(r.Err)
	}
	r, err := e.Run(ctx, "while True:\n    pass")
	if err != nil || !errors.Is(r.Err, ErrTimeout) || !strings.Contains(r.Error, "variables from earlier code are gone") {
		t.Fatalf("got %v %+v", err, r)
	}
	r, _ = e.Run(ctx, "print(x)")
	if !r.StateLost || !errors.Is(r.Err, ErrSyntax) {
		t.Fatalf("got %+v, want StateLost and x undefined", r)
	}
	if r, _ = e.Run(ctx, "print('ok')"); r.StateLost || r.Output != "ok\n" {
		t.Fatalf("got %+v", r)
	}
}

func TestRun_CancelledContext(t *testing.T) {
	s := newSandbox(t, Options{MaxSteps: 1 << 40, Timeout: time.Minute})
	e, _ := s.Start(context.Background())
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.Run(ctx, "while True:\n    pass")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	if r, err := e.Run(context.Background(), "print(1)"); err != nil || r.Output != "1\n" || !r.StateLost {
		t.Fatalf("after cancel: %v %+v", err, r)
	}
}

func TestRun_OneShot(t *testing.T) {
	r, err := Run(context.Background(), "print(sum([x * x for x in range(4)]))\nfinal_answer('done')",
		Options{Interpreter: interpreter(t), CacheDir: cacheDir()})
	if err != nil || r.Err != nil || r.Output != "14\n" || *r.FinalAnswer != "done" {
		t.Fatalf("got %v %+v", err, r)
	}
	b, _ := json.Marshal(r)
	for _, key := range []string{`"output":"14\n"`, `"final_answer":"done"`, `"tool_calls":[]`, `"steps":`, `"wall_time_ns":`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
}

func TestEmbeddedInterpreter(t *testing.T) {
	// The module is committed (embedded/README.md): a plain `go build` has it.
	b, err := EmbeddedInterpreter()
	if err != nil || len(b) < 1<<20 || string(b[:4]) != "\x00asm" {
		t.Fatalf("embedded module: %d bytes, %v", len(b), err)
	}
}

func TestNew_Errors(t *testing.T) {
	ctx := context.Background()
	if _, err := New(ctx, Options{Interpreter: []byte("not wasm")}); err == nil {
		t.Fatal("garbage module accepted")
	}
	if _, err := New(ctx, Options{Interpreter: interpreter(t), ToolSpecs: testSpecs}); err == nil {
		t.Fatal("ToolSpecs without Tools accepted")
	}
	if _, err := New(ctx, Options{Interpreter: interpreter(t), MaxSteps: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
}
