package goplugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/sdk"
	"github.com/toolbrain/toolbrain/sdk/plugintest"
)

// trace2KB is a realistic trace of about 2 KB of JSON (the runtime
// benchmarks' shape).
func trace2KB(answer string) sdk.Trace {
	tr := sdk.Trace{FinalAnswer: answer, ID: "t0-0", TaskID: "t0"}
	for i := 0; i < 3; i++ {
		tr.Turns = append(tr.Turns, sdk.Turn{
			Prompt:     "Find the invoice total in the mailbox and answer with the number only.",
			Completion: `I will search the mailbox. {"final_answer": "trap"} search(q="invoice")`,
			ToolCalls:  []sdk.ToolCall{{ID: "c1", Name: "search", Arguments: json.RawMessage(`{"q":"invoice"}`)}},
			Observations: []sdk.Observation{{ToolCallID: "c1", Name: "search",
				Content: "From: billing@example.com\nSubject: Invoice 1234\nTotal: 42 EUR", IsError: i == 1}},
			Tokens: &sdk.TokenSpans{PromptIDs: []int32{1, 2, 3, 4, 5, 6, 7, 8}, GeneratedIDs: []int32{9, 10, 11, 12}, Logprobs: []float32{-0.1, -0.2, -0.3, -0.4}},
		})
	}
	return tr
}

func tool(name string, args any) sdk.ToolCallRequest {
	b, _ := json.Marshal(args)
	return sdk.ToolCallRequest{Name: name, Arguments: b}
}

// The plugin process scores exactly what the in-process rewards score: the
// transport adds nothing and loses nothing (Info components included).
func TestReward_MatchesInProcess(t *testing.T) {
	list := []rewards.Config{
		{Name: rewards.NameExactMatch, Weight: 1, Normalize: true},
		{Name: rewards.NameTokenF1, Weight: 2},
		{Name: rewards.NameToolSuccess, Weight: 0.5},
		{Name: rewards.NameStepEfficiency, Weight: 0.25, MaxTurns: 4},
	}
	cfgJSON, _ := json.Marshal(list)
	p := openHelper(t, "rewards", goplugin.Config{Config: map[string]string{"rewards": string(cfgJSON)}, Kind: sdk.KindReward})
	if p.Name() != "rewards" || p.Kind() != sdk.KindReward || p.SDKVersion() != sdk.Version || p.Version() != "0.1.0" {
		t.Fatalf("info: name %q kind %q sdk %q version %q", p.Name(), p.Kind(), p.SDKVersion(), p.Version())
	}
	if !p.Exports(sdk.RewardFunction) || p.Exports(sdk.RewardGroupFunction) {
		t.Fatalf("exports: reward %v, reward_group %v", p.Exports(sdk.RewardFunction), p.Exports(sdk.RewardGroupFunction))
	}
	want, err := rewards.FromConfig(list)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		expected string
		trace    sdk.Trace
	}{
		{name: "exact after normalising", expected: "42", trace: trace2KB(" 42 ")},
		{name: "partial F1", expected: "the total is 42 EUR", trace: trace2KB("42 eur")},
		{name: "wrong", expected: "41", trace: trace2KB("forty-two")},
		{name: "empty trace", expected: "", trace: sdk.Trace{}},
		{name: "episode error", expected: "x", trace: sdk.Trace{FinalAnswer: "x", Error: "turn limit"}},
	}
	ctx := context.Background()
	var group sdk.RewardGroupRequest
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sdk.RewardRequest{Expected: tt.expected, Trace: tt.trace}
			got, err := p.Reward(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			w, err := want.Reward(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Score != w.Score || !reflect.DeepEqual(got.Info, w.Info) {
				t.Fatalf("plugin %v %v, in-process %v %v", got.Score, got.Info, w.Score, w.Info)
			}
		})
		if tt.expected == "42" {
			group.Expected = tt.expected
		}
		group.Traces = append(group.Traces, tt.trace)
	}
	// Without reward_group the group falls back to one call per trace.
	got, err := p.RewardGroup(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range group.Traces {
		w, _ := want.Reward(ctx, sdk.RewardRequest{Expected: group.Expected, Trace: tr})
		if got.Scores[i] != w.Score {
			t.Fatalf("group score %d = %v, want %v", i, got.Scores[i], w.Score)
		}
	}
}

// Every kind's typed method round-trips its request and response.
func TestKinds_RoundTrip(t *testing.T) {
	forEachWire(t, func(t *testing.T, env []string) {
		p := openHelper(t, "all", goplugin.Config{Env: env})
		ctx := context.Background()
		traces := []sdk.Trace{trace2KB("long answer"), trace2KB("a"), trace2KB("mid")}

		tr, err := p.CallTool(ctx, tool("search", map[string]string{"q": "x"}))
		if err != nil || tr.Content != "search" || string(tr.Data) != `{"q":"x"}` {
			t.Fatalf("tool: %+v, %v", tr, err)
		}
		r, err := p.Reward(ctx, sdk.RewardRequest{Trace: traces[0]})
		if err != nil || r.Score != 11 || r.Info["turns"] != 3 {
			t.Fatalf("reward: %+v, %v", r, err)
		}
		g, err := p.RewardGroup(ctx, sdk.RewardGroupRequest{Traces: traces})
		if err != nil || !reflect.DeepEqual(g.Scores, []float64{-11, -1, -3}) {
			t.Fatalf("reward_group (served, not the fallback): %+v, %v", g, err)
		}
		j, err := p.Judge(ctx, sdk.JudgeRequest{Traces: traces})
		if err != nil || !reflect.DeepEqual(j.Ranking, []int{1, 2, 0}) {
			t.Fatalf("judge: %+v, %v", j, err)
		}
		// GRPO advantages of [1, 0]: mean 0.5, std 0.5, (±0.5)/(0.5+1e-4).
		a, err := p.Advantages(ctx, sdk.AdvantageRequest{Groups: []sdk.Group{{Rewards: []float64{1, 0}, Lengths: []int{4, 4}}}})
		if err != nil || math.Abs(a.Advantages[0][0]-0.5/0.5001) > 1e-12 || math.Abs(a.Advantages[0][1]+0.5/0.5001) > 1e-12 {
			t.Fatalf("advantages: %+v, %v", a, err)
		}
		in, err := p.Interpret(ctx, sdk.InterpretRequest{Code: "x = 1", State: json.RawMessage(`{"x":1}`)})
		if err != nil || in.Stdout != "x = 1\n" || in.FinalAnswer == nil || *in.FinalAnswer != "X = 1" || in.Steps != 5 || string(in.State) != `{"x":1}` {
			t.Fatalf("interpret: %+v, %v", in, err)
		}
		// The host validates requests as it does for WebAssembly plugins.
		if _, err := p.Advantages(ctx, sdk.AdvantageRequest{Groups: []sdk.Group{{Rewards: []float64{1}}}}); !errors.Is(err, sdk.ErrInvalidRequest) {
			t.Fatalf("invalid advantage request: %v", err)
		}
	})
}

// A process that dies mid-call fails that call with an error naming the
// plugin, its path and how it ended; the next call starts a new process and
// works.
func TestCrash_Restarts(t *testing.T) {
	forEachWire(t, func(t *testing.T, env []string) {
		p := openHelper(t, "tools", goplugin.Config{Env: env})
		ctx := context.Background()
		pid := func() string {
			t.Helper()
			r, err := p.CallTool(ctx, tool("pid", nil))
			if err != nil {
				t.Fatal(err)
			}
			return r.Content
		}
		tests := []struct {
			name string
			req  sdk.ToolCallRequest
			want []string
		}{
			{name: "os.Exit", req: tool("exit", toolArgs{Code: 3}), want: []string{"exit status 3"}},
			{name: "unrecovered panic", req: tool("goroutine-panic", nil), want: []string{"exit status 2", "plugin stderr: panic: kaboom"}},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := pid()
				_, err := p.CallTool(ctx, tt.req)
				if !errors.Is(err, goplugin.ErrCrashed) {
					t.Fatalf("err = %v, want ErrCrashed", err)
				}
				for _, want := range append([]string{`"tools"`, os.Args[0], "call_tool"}, tt.want...) {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
				if after := pid(); after == before {
					t.Fatalf("pid %s after the crash, want a new process", after)
				}
				if p.Restarts() != i+1 {
					t.Fatalf("restarts = %d, want %d", p.Restarts(), i+1)
				}
			})
		}

		// Killed between calls: the next call restarts quietly.
		before := pid()
		n, _ := strconv.Atoi(before)
		if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitGone(t, p, n)
		if after := pid(); after == before {
			t.Fatalf("pid %s after SIGKILL, want a new process", after)
		}
		if p.Restarts() != len(tests)+1 {
			t.Fatalf("restarts = %d, want %d", p.Restarts(), len(tests)+1)
		}
	})
}

// waitGone waits until process pid has been reaped and go-plugin has
// noticed, so that p's next call restarts it.
func waitGone(t *testing.T, p *goplugin.Plugin, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(pid, 0) == nil || !goplugin.ProcessExited(p); {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still exists or go-plugin has not noticed its exit", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close honours its deadline while a restart hangs: the process that
// replaces a killed one never answers the handshake, and Close(100 ms)
// returns at once, as does the call that was waiting for the restart.
func TestClose_DuringHungRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := helperConfig(t, "hang-on-restart")
	cfg.Env = append(cfg.Env, markerEnv+"="+dir)
	cfg.StartTimeout = 20 * time.Second
	p, err := goplugin.Open(context.Background(), os.Args[0], cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.CallTool(context.Background(), tool("pid", nil))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(r.Content)
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, p, n)
	callErr := make(chan error, 1)
	go func() {
		_, err := p.CallTool(context.Background(), tool("pid", nil))
		callErr <- err
	}()
	// The second process says it is hanging before it hangs.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "hanging")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restart never began")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = p.Close(ctx)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close(100 ms) returned after %v (err %v): it waited for the start", d, err)
	}
	select {
	case err := <-callErr:
		if !errors.Is(err, contract.ErrClosed) {
			t.Fatalf("the call waiting for the restart: err = %v, want contract.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the call waiting for the restart did not return after Close")
	}
}

// A cancelled Open fails with an error that is context.Canceled (and
// ErrStart), whether the context ends before the start or during it.
func TestOpen_Cancelled(t *testing.T) {
	tests := []struct {
		name   string
		helper string
		after  time.Duration // cancel after this long; 0: before Open
	}{
		{name: "before the start", helper: "tools"},
		{name: "during a hung handshake", helper: "hang", after: 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := helperConfig(t, tt.helper)
			cfg.StartTimeout = 20 * time.Second
			ctx, cancel := context.WithCancel(context.Background())
			if tt.after == 0 {
				cancel()
			} else {
				time.AfterFunc(tt.after, cancel)
			}
			defer cancel()
			start := time.Now()
			p, err := goplugin.Open(ctx, os.Args[0], cfg)
			if err == nil {
				p.Close(context.Background())
				t.Fatal("Open succeeded on a cancelled context")
			}
			if !errors.Is(err, context.Canceled) || !errors.Is(err, goplugin.ErrStart) {
				t.Fatalf("err = %v, want context.Canceled and ErrStart", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("Open returned after %v, not at the cancel", d)
			}
		})
	}
}

// A plugin built for another SDK version is refused with both versions in
// the error and what to do.
func TestOpen_VersionMismatch(t *testing.T) {
	tests := []struct {
		name   string
		helper string
		want   []string
	}{
		{name: "newer minor", helper: "future", want: []string{"1.9", sdk.Version, "upgrade toolbrain"}},
		{name: "other major", helper: "major2", want: []string{"SDK 2.x", sdk.Version, "rebuild the plugin against SDK 1.x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := goplugin.Open(context.Background(), os.Args[0], helperConfig(t, tt.helper))
			if err == nil {
				p.Close(context.Background())
				t.Fatal("opened")
			}
			if !errors.Is(err, sdk.ErrIncompatibleVersion) {
				t.Fatalf("err = %v, want ErrIncompatibleVersion", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestOpen_Errors(t *testing.T) {
	notPlugin := helperConfig(t, "")
	notPlugin.Env = nil // the test binary itself: prints PASS, no handshake
	kindMismatch := helperConfig(t, "tools")
	kindMismatch.Kind = sdk.KindReward
	tests := []struct {
		name string
		path string
		cfg  goplugin.Config
		want error
		text string
	}{
		{name: "missing binary", path: "/nonexistent/plugin", want: fs.ErrNotExist},
		{name: "directory", path: os.TempDir(), want: goplugin.ErrStart},
		{name: "not a plugin", path: os.Args[0], cfg: notPlugin, want: goplugin.ErrStart, text: "Unrecognized remote plugin message"},
		{name: "net/rpc plugin", path: os.Args[0], cfg: helperConfig(t, "netrpc"), want: goplugin.ErrStart, text: "unsupported plugin protocol"},
		{name: "configure fails", path: os.Args[0], cfg: helperConfig(t, "badconfig"), want: goplugin.ErrStart, text: "api_key is required"},
		{name: "kind mismatch", path: os.Args[0], cfg: kindMismatch, want: contract.ErrBadConfig, text: "tool plugin, configured as reward"},
		{name: "negative timeout", path: os.Args[0], cfg: goplugin.Config{Limits: limits.Limits{Timeout: -1}}, want: contract.ErrBadConfig},
		{name: "memory above wasm32", path: os.Args[0], cfg: goplugin.Config{Limits: limits.Limits{MemoryPages: limits.MaxMemoryPages + 1}}, want: limits.ErrOutOfRange, text: "memory_pages"},
		{name: "unknown kind", path: os.Args[0], cfg: goplugin.Config{Kind: "oracle"}, want: contract.ErrBadConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.StartTimeout = 5 * time.Second
			p, err := goplugin.Open(context.Background(), tt.path, tt.cfg)
			if err == nil {
				p.Close(context.Background())
				t.Fatal("opened")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("err = %v, want %v with %q and the path", err, tt.want, tt.text)
			}
		})
	}
}

// A call that runs past the timeout fails with contract.ErrTimeout at the
// timeout, even when the plugin ignores its context; the process stays.
func TestCall_Timeout(t *testing.T) {
	forEachWire(t, func(t *testing.T, env []string) {
		p := openHelper(t, "tools", goplugin.Config{Env: env, Limits: limits.Limits{Timeout: 300 * time.Millisecond}})
		ctx := context.Background()
		start := time.Now()
		_, err := p.CallTool(ctx, tool("sleep", toolArgs{Ms: 10000}))
		if !errors.Is(err, contract.ErrTimeout) || !strings.Contains(err.Error(), `"tools"`) {
			t.Fatalf("err = %v, want ErrTimeout naming the plugin", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("timed out after %v, want about 300ms", d)
		}
		if r, err := p.CallTool(ctx, tool("echo", toolArgs{Text: "still here"})); err != nil || r.Content != "still here" {
			t.Fatalf("after timeout: %+v, %v", r, err)
		}
		if p.Restarts() != 0 {
			t.Fatalf("restarts = %d, want 0", p.Restarts())
		}

		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := p.CallTool(cctx, tool("sleep", toolArgs{Ms: 3000})); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, contract.ErrTimeout) {
			t.Fatalf("caller's deadline: err = %v, want context.DeadlineExceeded", err)
		}
	})
}

// A call the host gives up on, by its timeout or the caller's context, is
// cancelled in the plugin too, so that the plugin can stop its work.
func TestCall_CancelReachesPlugin(t *testing.T) {
	forEachWire(t, func(t *testing.T, env []string) {
		p := openHelper(t, "tools", goplugin.Config{Env: env, Limits: limits.Limits{Timeout: 200 * time.Millisecond}})
		ctx := context.Background()
		if _, err := p.CallTool(ctx, tool("wait", nil)); !errors.Is(err, contract.ErrTimeout) {
			t.Fatalf("plugin timeout: err = %v, want ErrTimeout", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(50*time.Millisecond, cancel)
		if _, err := p.CallTool(cctx, tool("wait", nil)); !errors.Is(err, context.Canceled) {
			t.Fatalf("caller's cancel: err = %v, want context.Canceled", err)
		}
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			r, err := p.CallTool(ctx, tool("cancelled", nil))
			if err != nil {
				t.Fatal(err)
			}
			if r.Content == "2" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the plugin saw %s of 2 cancellations", r.Content)
			}
		}
	})
}

// A streaming plugin that ignores the host's output limit breaks the call
// stream with an oversize response: the call fails with ErrOutputLimit,
// and the next call opens a new stream on the same process.
func TestStream_OutputLimitWithoutServe(t *testing.T) {
	p := openHelper(t, "tools", goplugin.Config{Env: []string{wireEnv + "=stream-nolimit"}, Limits: limits.Limits{MaxOutputBytes: 1000}})
	ctx := context.Background()
	if _, err := p.CallTool(ctx, tool("big", toolArgs{Bytes: 5000})); !errors.Is(err, contract.ErrOutputLimit) {
		t.Fatalf("err = %v, want ErrOutputLimit", err)
	}
	if r, err := p.CallTool(ctx, tool("echo", toolArgs{Text: "still here"})); err != nil || r.Content != "still here" {
		t.Fatalf("after the broken stream: %+v, %v", r, err)
	}
	if p.Restarts() != 0 {
		t.Fatalf("restarts = %d, want 0", p.Restarts())
	}
}

func TestCall_Errors(t *testing.T) {
	forEachWire(t, func(t *testing.T, env []string) {
		p := openHelper(t, "tools", goplugin.Config{Env: env, Limits: limits.Limits{MaxOutputBytes: 1000}})
		ctx := context.Background()
		tests := []struct {
			name string
			req  sdk.ToolCallRequest
			want error
			text string
		}{
			{name: "plugin error", req: tool("fail", nil), want: contract.ErrPluginFailed, text: "mailbox unreachable"},
			{name: "panic recovered", req: tool("panic", nil), want: contract.ErrPluginFailed, text: "panic: boom"},
			{name: "output limit", req: tool("big", toolArgs{Bytes: 5000}), want: contract.ErrOutputLimit},
			{name: "output just under", req: tool("big", toolArgs{Bytes: 900})},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := p.CallTool(ctx, tt.req)
				if tt.want == nil {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
					t.Fatalf("err = %v, want %v with %q", err, tt.want, tt.text)
				}
			})
		}
		if _, err := p.Call(ctx, sdk.JudgeFunction, []byte(`{}`)); !errors.Is(err, contract.ErrNoFunction) {
			t.Fatalf("unserved function: %v", err)
		}
		if _, err := p.Call(ctx, sdk.ToolFunction, []byte(`{"name": 1}`)); !errors.Is(err, contract.ErrPluginFailed) || !strings.Contains(err.Error(), "invalid request") {
			t.Fatalf("bad JSON request: %v", err)
		}
		if p.Restarts() != 0 {
			t.Fatalf("restarts = %d: a failing call must not cost the process", p.Restarts())
		}
		p.Close(ctx)
		if _, err := p.CallTool(ctx, tool("echo", nil)); !errors.Is(err, contract.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	})
}

// The effective limits are limits.WithDefaults' with no memory cap: a
// process has no linear memory.
func TestOpen_EffectiveLimits(t *testing.T) {
	p := openHelper(t, "tools", goplugin.Config{Limits: limits.Limits{MemoryPages: 7, MaxInstances: 3}})
	want := limits.Limits{Timeout: limits.DefaultTimeout, MaxOutputBytes: limits.DefaultMaxOutputBytes, MaxInstances: 3}
	if got := p.Limits(); got != want {
		t.Fatalf("Limits() = %+v, want %+v", got, want)
	}
}

// Concurrent calls share the process and each gets its own answer (run
// with -race).
func TestCall_Concurrent(t *testing.T) {
	forEachWire(t, func(t *testing.T, env []string) {
		p := openHelper(t, "tools", goplugin.Config{Env: env, Limits: limits.Limits{MaxInstances: 8}})
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					want := strconv.Itoa(g*1000 + i)
					r, err := p.CallTool(context.Background(), tool("echo", toolArgs{Text: want}))
					if err == nil && r.Content != want {
						err = errors.New("got " + r.Content + ", want " + want)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec.Clone())
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) find(msg string) (slog.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if rec.Message == msg {
			return rec, true
		}
	}
	return slog.Record{}, false
}

// A plugin's serve.Logger records reach the host's slog logger with their
// level and attributes; go-plugin's routine messages are demoted to debug.
func TestLogs_ThroughSlog(t *testing.T) {
	rec := &recorder{}
	p := openHelper(t, "tools", goplugin.Config{Logger: slog.New(rec)})
	if _, err := p.CallTool(context.Background(), tool("log", toolArgs{Text: "invoice"})); err != nil {
		t.Fatal(err)
	}
	var got slog.Record
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var ok bool
		if got, ok = rec.find("searched"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the plugin's log record never arrived")
		}
	}
	attrs := map[string]string{}
	got.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	if got.Level != slog.LevelInfo || attrs["query"] != "invoice" || attrs["hits"] != "3" {
		t.Fatalf("record %v %q %v", got.Level, got.Message, attrs)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, r := range rec.records {
		if r.Level >= slog.LevelInfo && r.Message != "searched" {
			t.Errorf("go-plugin message at %v: %q", r.Level, r.Message)
		}
	}
}

// The plugin contract (sdk/plugintest), checked through the process: what
// passes in-process must pass over the transport, concurrency included.
func TestConformance(t *testing.T) {
	t.Run("reward", func(t *testing.T) {
		p := openHelper(t, "rewards", goplugin.Config{Config: map[string]string{"rewards": `[{"name": "token_f1", "weight": 1}]`}})
		plugintest.TestReward(t, p,
			plugintest.RewardCase{Name: "partial F1", Request: sdk.RewardRequest{Expected: "a cat sat down", Trace: sdk.Trace{FinalAnswer: "the cat sat"}}, Want: 0.8},
			plugintest.RewardCase{Name: "multiset F1", Request: sdk.RewardRequest{Expected: "a b b", Trace: sdk.Trace{FinalAnswer: "a a b"}}, Want: 2.0 / 3})
	})
	p := openHelper(t, "all", goplugin.Config{})
	t.Run("algorithm", func(t *testing.T) { plugintest.TestAlgorithm(t, p) })
	t.Run("judge", func(t *testing.T) { plugintest.TestJudge(t, p) })
}
