package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// An instance goes to the next episode only after a clean episode, reset:
// the next episode never sees the globals of the one before, whether it
// runs on the reused instance or on a fresh one.
func TestSandbox_Reuse(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		opts   Options
		code   string // the first episode's code, "" for none; it sets secret
		reused bool
	}{
		{name: "no code ran", reused: true},
		{name: "final answer", code: "secret = 42\nfinal_answer(1)", reused: true},
		{name: "no final answer", code: "secret = 42", reused: true},
		{name: "error of the code", code: "secret = 42\nx = 1 // 0", reused: true},
		{name: "tool call", code: "secret = add(a=40, b=2)", reused: true},
		{name: "reuse disabled", opts: Options{MaxEpisodesPerInstance: 1}, code: "secret = 42"},
		{name: "step limit", opts: Options{MaxSteps: 1000}, code: "secret = 42\nwhile True:\n    pass"},
		{name: "output limit", opts: Options{MaxOutputBytes: 100}, code: "secret = 42\nprint('x' * 1000)"},
		{name: "timeout", opts: Options{Timeout: 2 * time.Second}, code: "secret = 'ab' * 3000000\nfor i in range(100000):\n    secret = secret.replace('a', 'b')"},
		{name: "memory limit", code: "secret = 42\nl = []\nfor i in range(1000):\n    l.append('x' * 1000000)"},
		{name: "over half the memory", code: "secret = 'x' * 40000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.PoolSize = -1
			s := newSandbox(t, tt.opts)
			e, err := s.Start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.code != "" {
				if _, err := e.Run(ctx, tt.code); err != nil {
					t.Fatal(err)
				}
			}
			first := e.plugin
			e.Close()
			e2, err := s.Start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer e2.Close()
			if got := e2.plugin == first; got != tt.reused {
				t.Errorf("second episode on the first one's instance: %v, want %v", got, tt.reused)
			}
			r, err := e2.Run(ctx, "print(secret)")
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(r.Err, ErrSyntax) || !strings.Contains(r.Error, "undefined: secret") {
				t.Fatalf("the next episode sees the last one's global: output %q, error %q", r.Output, r.Error)
			}
		})
	}
}

// An instance serves at most MaxEpisodesPerInstance episodes.
func TestSandbox_ReuseLimit(t *testing.T) {
	s := newSandbox(t, Options{PoolSize: -1, MaxEpisodesPerInstance: 3})
	var seen []*slot
	for range 4 {
		e := startRun(t, s, "final_answer(1)")
		seen = append(seen, e.plugin)
		e.Close()
	}
	if seen[0] != seen[1] || seen[1] != seen[2] || seen[3] == seen[0] {
		t.Fatalf("instances of 4 episodes with a limit of 3: want the first three the same and the fourth new")
	}
}

// Episodes that each fill a good part of the memory cap run one after
// another on reused instances without running out, and the interpreter's
// reset collects their garbage: without it the memory grows past half the
// cap every third episode and the instance is replaced.
func TestSandbox_ReuseMemory(t *testing.T) {
	ctx := context.Background()
	s := newSandbox(t, Options{PoolSize: -1})
	instances := map[*slot]bool{}
	for i := range 12 {
		e, err := s.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.Run(ctx, "s = 'x' * 12000000\nl = [s[:1000] + str(i) for i in range(2000)]\nfinal_answer(len(s) + len(l))")
		if err != nil || r.Err != nil || r.FinalAnswer == nil || *r.FinalAnswer != "12002000" {
			t.Fatalf("episode %d: %v %+v", i, err, r)
		}
		instances[e.plugin] = true
		t.Logf("episode %d: memory %d MiB", i, e.plugin.in.MemoryBytes()>>20)
		e.Close()
	}
	if len(instances) > 2 {
		t.Errorf("12 episodes ran on %d instances: reuse did not happen", len(instances))
	}
}

// A group of episodes open at once hands its instances to the next group:
// no instance is started for it, and none is discarded.
func TestSandbox_ReuseGroup(t *testing.T) {
	s := newSandbox(t, Options{PoolSize: 2})
	waitPool(t, s)
	group := func() map[*slot]bool {
		var es []*Episode
		used := map[*slot]bool{}
		for range 6 {
			e := startRun(t, s, "x = 1")
			es = append(es, e)
			used[e.plugin] = true
		}
		for _, e := range es {
			e.Close()
		}
		return used
	}
	first, second := group(), group()
	for p := range second {
		if !first[p] {
			t.Errorf("the second group started an instance of its own")
		}
	}
	s.mu.Lock()
	waiting := len(s.pool) + len(s.idle)
	s.mu.Unlock()
	if len(first) != 6 || waiting != 6 {
		t.Errorf("first group on %d instances, %d waiting after the second; want 6 and 6", len(first), waiting)
	}
}

// startRun starts an episode and runs code that must succeed in it.
func startRun(t *testing.T, s *Sandbox, code string) *Episode {
	t.Helper()
	e, err := s.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r, err := e.Run(context.Background(), code); err != nil || r.Err != nil {
		t.Fatalf("%v %+v", err, r)
	}
	return e
}
