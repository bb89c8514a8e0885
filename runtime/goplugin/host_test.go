package goplugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/sdk"
)

// fakeLLM is the host's judge model in these tests: it records what it was
// asked and answers with answer (by default, the length of the last
// message's content).
type fakeLLM struct {
	mu     sync.Mutex
	seen   []sdk.LLMRequest
	answer func(ctx context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error)
}

func (f *fakeLLM) Complete(ctx context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
	f.mu.Lock()
	f.seen = append(f.seen, req)
	f.mu.Unlock()
	if f.answer != nil {
		return f.answer(ctx, req)
	}
	last := req.Messages[len(req.Messages)-1].Content
	return sdk.LLMResponse{Text: strconv.Itoa(len(last))}, nil
}

func (f *fakeLLM) requests() []sdk.LLMRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sdk.LLMRequest(nil), f.seen...)
}

// fakeTools are the host's tools in these tests: "upper" upper-cases the
// text argument, "fail" fails.
type fakeTools struct {
	mu   sync.Mutex
	seen []sdk.ToolCallRequest
}

func (f *fakeTools) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	f.mu.Lock()
	f.seen = append(f.seen, req)
	f.mu.Unlock()
	switch req.Name {
	case "upper":
		var a toolArgs
		_ = json.Unmarshal(req.Arguments, &a)
		return sdk.ToolCallResponse{Content: strings.ToUpper(a.Text), Data: req.Arguments}, nil
	case "fail":
		return sdk.ToolCallResponse{}, errors.New("mailbox unreachable")
	}
	return sdk.ToolCallResponse{Content: "no such tool: " + req.Name, IsError: true}, nil
}

// hostFnsConfig opens the "hostfns" helper asking for ask and granted
// grant.
func hostFnsConfig(env []string, ask []string, grant ...string) goplugin.Config {
	return goplugin.Config{
		Env:   append(append([]string(nil), env...), askEnv+"="+strings.Join(ask, ",")),
		Grant: contract.Permissions{HostFunctions: grant},
	}
}

// A judge plugin asks the host's LLM to score each trace: the LLM sees the
// plugin's requests, and the plugin's scores are the LLM's answers.
func TestHostFunctions_JudgeAsksLLM(t *testing.T) {
	forEachWire(t, func(t *testing.T, env []string) {
		llm := &fakeLLM{}
		cfg := hostFnsConfig(env, []string{sdk.PermissionLLM}, sdk.PermissionLLM)
		cfg.LLM = llm
		p := openHelper(t, "hostfns", cfg)
		if got := p.Permissions().HostFunctions; !reflect.DeepEqual(got, []string{sdk.PermissionLLM}) {
			t.Fatalf("permissions %v, want [llm]", got)
		}
		answers := []string{"42", "forty-two", ""}
		req := sdk.JudgeRequest{Expected: "42"}
		var want []float64
		for _, a := range answers {
			req.Traces = append(req.Traces, sdk.Trace{FinalAnswer: a})
			want = append(want, float64(len("Expected: 42\nAnswer: "+a)))
		}
		resp, err := p.Judge(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(resp.Scores, want) {
			t.Fatalf("scores %v, want %v", resp.Scores, want)
		}
		seen := llm.requests()
		if len(seen) != len(answers) {
			t.Fatalf("the LLM saw %d requests, want %d", len(seen), len(answers))
		}
		for i, r := range seen {
			if len(r.Messages) != 2 || r.Messages[0].Role != "system" || r.Messages[1].Content != "Expected: 42\nAnswer: "+answers[i] || r.MaxTokens != 4 {
				t.Errorf("request %d: %+v", i, r)
			}
		}
	})
}

// A plugin calls the host's tools: the tool sees the request, the plugin
// gets the response; a failing tool answers with IsError, as for a
// WebAssembly plugin.
func TestHostFunctions_CallTool(t *testing.T) {
	forEachWire(t, func(t *testing.T, env []string) {
		tools := &fakeTools{}
		cfg := hostFnsConfig(env, []string{sdk.PermissionTool}, sdk.PermissionTool, sdk.PermissionLog)
		cfg.Tools = tools
		p := openHelper(t, "hostfns", cfg)
		ctx := context.Background()
		r, err := p.CallTool(ctx, tool("tool", toolArgs{Text: "upper"}))
		if err != nil || r.Content != "UPPER" || r.IsError {
			t.Fatalf("upper: %+v, %v", r, err)
		}
		r, err = p.CallTool(ctx, tool("tool", toolArgs{Text: "fail"}))
		if err != nil || !r.IsError || r.Content != "mailbox unreachable" {
			t.Fatalf("failing tool: %+v, %v; want IsError with the tool's error", r, err)
		}
		tools.mu.Lock()
		defer tools.mu.Unlock()
		if len(tools.seen) != 2 || tools.seen[0].Name != "upper" || string(tools.seen[0].Arguments) != `{"text":"upper","code":0,"ms":0,"bytes":0}` {
			t.Fatalf("the tools saw %+v", tools.seen)
		}
	})
}

// A host function the plugin did not ask for, or the configuration did not
// grant, or the host has nothing for, fails with sdk.ErrPermissionDenied
// naming the plugin, the function and the fix.
func TestHostFunctions_Denied(t *testing.T) {
	failing := &fakeLLM{answer: func(context.Context, sdk.LLMRequest) (sdk.LLMResponse, error) {
		return sdk.LLMResponse{}, errors.New("judge endpoint: 503 Service Unavailable")
	}}
	tests := []struct {
		name   string
		helper string
		ask    []string
		grant  []string
		noLLM  bool
		llm    *fakeLLM
		call   sdk.ToolCallRequest
		want   error
		text   []string
	}{
		{name: "llm not asked", ask: []string{sdk.PermissionTool}, grant: []string{sdk.PermissionTool, sdk.PermissionLLM}, call: tool("llm", toolArgs{Text: "hi"}),
			want: sdk.ErrPermissionDenied, text: []string{`plugin "hostfns"`, sdk.HostLLM, "sdk.PermissionLLM to serve.Plugin.HostFunctions"}},
		{name: "llm not granted", ask: []string{sdk.PermissionLLM}, call: tool("llm", toolArgs{Text: "hi"}),
			want: sdk.ErrPermissionDenied, text: []string{`plugin "hostfns"`, sdk.HostLLM, `add "llm" to the plugin's grant.host_functions`}},
		{name: "llm neither", grant: []string{sdk.PermissionTool}, call: tool("llm", toolArgs{Text: "hi"}),
			want: sdk.ErrPermissionDenied, text: []string{sdk.HostLLM, "serve.Plugin.HostFunctions", "grant.host_functions"}},
		{name: "tool not granted, llm granted", ask: []string{sdk.PermissionTool, sdk.PermissionLLM}, grant: []string{sdk.PermissionLLM}, call: tool("tool", toolArgs{Text: "upper"}),
			want: sdk.ErrPermissionDenied, text: []string{sdk.HostCallTool, `add "tool" to the plugin's grant.host_functions`}},
		{name: "host checks a plugin that lies about its asks", helper: "hostfns-liar", ask: []string{sdk.PermissionTool}, grant: []string{sdk.PermissionTool, sdk.PermissionLLM},
			call: tool("llm", toolArgs{Text: "hi"}), want: sdk.ErrPermissionDenied, text: []string{`plugin "hostfns"`, sdk.HostLLM, "serve.Plugin.HostFunctions"}},
		{name: "no LLM on this host", ask: []string{sdk.PermissionLLM}, grant: []string{sdk.PermissionLLM}, noLLM: true, call: tool("llm", toolArgs{Text: "hi"}),
			want: sdk.ErrPermissionDenied, text: []string{sdk.HostLLM, "no LLM (judge model) is configured on this host"}},
		{name: "no tools on this host", ask: []string{sdk.PermissionTool}, grant: []string{sdk.PermissionTool}, call: tool("tool", toolArgs{Text: "upper"}),
			want: sdk.ErrPermissionDenied, text: []string{sdk.HostCallTool, "no tools are configured on this host"}},
		{name: "LLM fails", ask: []string{sdk.PermissionLLM}, grant: []string{sdk.PermissionLLM}, llm: failing, call: tool("llm", toolArgs{Text: "hi"}),
			want: contract.ErrPluginFailed, text: []string{sdk.HostLLM, "host function failed", "judge endpoint: 503"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			helper := tt.helper
			if helper == "" {
				helper = "hostfns"
			}
			cfg := hostFnsConfig(nil, tt.ask, tt.grant...)
			if !tt.noLLM {
				llm := tt.llm
				if llm == nil {
					llm = &fakeLLM{}
				}
				cfg.LLM = llm
			}
			p := openHelper(t, helper, cfg)
			_, err := p.CallTool(context.Background(), tt.call)
			t.Log(err)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want != sdk.ErrPermissionDenied && errors.Is(err, sdk.ErrPermissionDenied) {
				t.Fatalf("err = %v wraps ErrPermissionDenied", err)
			}
			for _, w := range tt.text {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if p.Restarts() != 0 {
				t.Fatalf("restarts = %d: a refused host call must not cost the process", p.Restarts())
			}
		})
	}
}

// A host function's deadline is the plugin call's: when the call times
// out, the LLM's context ends too.
func TestHostFunctions_Timeout(t *testing.T) {
	ended := make(chan error, 1)
	llm := &fakeLLM{answer: func(ctx context.Context, _ sdk.LLMRequest) (sdk.LLMResponse, error) {
		select {
		case <-ctx.Done():
			ended <- ctx.Err()
			return sdk.LLMResponse{}, ctx.Err()
		case <-time.After(10 * time.Second):
			ended <- nil
			return sdk.LLMResponse{Text: "too late"}, nil
		}
	}}
	cfg := hostFnsConfig(nil, []string{sdk.PermissionLLM}, sdk.PermissionLLM)
	cfg.LLM = llm
	cfg.Limits.Timeout = 150 * time.Millisecond
	p := openHelper(t, "hostfns", cfg)
	start := time.Now()
	if _, err := p.CallTool(context.Background(), tool("llm", toolArgs{Text: "slow"})); !errors.Is(err, contract.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the LLM's context never ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the LLM's context never ended")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

// After a crash the new process reaches the host functions again: every
// start sets up the Host service anew (a process that exited between calls
// is restarted by the same code).
func TestHostFunctions_Restart(t *testing.T) {
	forEachWire(t, func(t *testing.T, env []string) {
		llm := &fakeLLM{}
		cfg := hostFnsConfig(env, []string{sdk.PermissionLLM}, sdk.PermissionLLM)
		cfg.LLM = llm
		p := openHelper(t, "hostfns", cfg)
		ctx := context.Background()
		ask := func(text string) {
			t.Helper()
			r, err := p.CallTool(ctx, tool("llm", toolArgs{Text: text}))
			if err != nil || r.Content != strconv.Itoa(len(text)) {
				t.Fatalf("llm %q: %+v, %v", text, r, err)
			}
		}
		ask("before")
		if _, err := p.CallTool(ctx, tool("exit", toolArgs{Code: 3})); !errors.Is(err, goplugin.ErrCrashed) {
			t.Fatalf("exit: %v, want ErrCrashed", err)
		}
		ask("after the crash")
		if p.Restarts() != 1 {
			t.Fatalf("restarts = %d, want 1", p.Restarts())
		}
	})
}

// Concurrent calls each get their own host answers (run with -race).
func TestHostFunctions_Concurrent(t *testing.T) {
	forEachWire(t, func(t *testing.T, env []string) {
		llm := &fakeLLM{answer: func(_ context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
			time.Sleep(time.Millisecond) // overlap the calls
			return sdk.LLMResponse{Text: "re: " + req.Messages[0].Content}, nil
		}}
		tools := &fakeTools{}
		cfg := hostFnsConfig(env, []string{sdk.PermissionLLM, sdk.PermissionTool}, sdk.PermissionLLM, sdk.PermissionTool)
		cfg.LLM, cfg.Tools = llm, tools
		cfg.Limits.MaxInstances = 8
		p := openHelper(t, "hostfns", cfg)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				for i := range 10 {
					text := fmt.Sprintf("q%d-%d", g, i)
					name, want := "llm", "re: "+text
					if i%2 == 1 {
						name, want = "tool", "UPPER"
						text = "upper"
					}
					r, err := p.CallTool(context.Background(), tool(name, toolArgs{Text: text}))
					if err == nil && r.Content != want {
						err = fmt.Errorf("got %q, want %q", r.Content, want)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := len(llm.requests()); n != 40 {
			t.Errorf("the LLM saw %d requests, want 40", n)
		}
	})
}

// A grant of a permission that does not exist is refused at Open.
func TestOpen_BadGrant(t *testing.T) {
	cfg := helperConfig(t, "tools")
	cfg.Grant.HostFunctions = []string{"network"}
	p, err := goplugin.Open(context.Background(), os.Args[0], cfg)
	if err == nil {
		p.Close(context.Background())
		t.Fatal("opened")
	}
	if !errors.Is(err, contract.ErrBadConfig) || !strings.Contains(err.Error(), `"network"`) || !strings.Contains(err.Error(), "grant.host_functions") {
		t.Fatalf("err = %v, want ErrBadConfig naming the permission", err)
	}
}
