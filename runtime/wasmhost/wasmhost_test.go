package wasmhost_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// testCache is shared by every test host (and across test runs): compiling
// a 3.5 MB Go plugin takes seconds on 2 cores, loading it from the cache
// milliseconds. wazero keys entries by its version and the module's hash.
var testCache = filepath.Join(os.TempDir(), "toolbrain-test-wasm-cache")

func newHost(t testing.TB, cfg wasmhost.HostConfig) *wasmhost.Host {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = testCache
	}
	h, err := wasmhost.NewHost(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func load(t testing.TB, h *wasmhost.Host, file string, m contract.Manifest, cfg contract.PluginConfig) *wasmhost.Plugin {
	t.Helper()
	if m.Name == "" {
		m.Name = strings.TrimSuffix(file, ".wasm")
	}
	p, err := h.LoadFile(context.Background(), pluginbuild.Path(t, file), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// The same reward in three languages.
var exactMatchPlugins = []string{"exactmatch-go.wasm", "exactmatch-as.wasm", "exactmatch-wat.wasm"}

// trace2KB is a realistic trace whose JSON request is about 2 KB.
func trace2KB(answer string) sdk.Trace {
	tr := sdk.Trace{FinalAnswer: answer, ID: "t0-0", TaskID: "t0"}
	for i := 0; i < 3; i++ {
		tr.Turns = append(tr.Turns, sdk.Turn{
			Prompt:     "Find the invoice total in the mailbox and answer with the number only.",
			Completion: `I will search the mailbox. {"final_answer": "trap"} search(q="invoice")`,
			ToolCalls:  []sdk.ToolCall{{ID: "c1", Name: "search", Arguments: json.RawMessage(`{"q":"invoice","final_answer":"nested"}`)}},
			Observations: []sdk.Observation{{ToolCallID: "c1", Name: "search",
				Content: "From: billing@example.com\nSubject: Invoice 1234\nTotal: 42 EUR"}},
			Tokens: &sdk.TokenSpans{PromptIDs: []int32{1, 2, 3, 4, 5, 6, 7, 8}, GeneratedIDs: []int32{9, 10, 11, 12}, Logprobs: []float32{-0.1, -0.2, -0.3, -0.4}},
		})
	}
	return tr
}

func TestExactMatch_AllLanguages(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{})
	cases := []struct {
		name     string
		expected string
		trace    sdk.Trace
	}{
		{name: "match", expected: "42", trace: sdk.Trace{FinalAnswer: "42"}},
		{name: "mismatch", expected: "42", trace: sdk.Trace{FinalAnswer: "41"}},
		{name: "prefix", expected: "42", trace: sdk.Trace{FinalAnswer: "420"}},
		{name: "both empty", expected: "", trace: sdk.Trace{}},
		{name: "escapes match", expected: "say \"hi\"\n\\ é <b>", trace: sdk.Trace{FinalAnswer: "say \"hi\"\n\\ é <b>"}},
		{name: "escapes differ", expected: "say \"hi\"", trace: sdk.Trace{FinalAnswer: "say \\\"hi\\\""}},
		{name: "2KB trace match", expected: "42 EUR", trace: trace2KB("42 EUR")},
		{name: "2KB trace decoy", expected: "nested", trace: trace2KB("42 EUR")},
	}
	for _, file := range exactMatchPlugins {
		t.Run(file, func(t *testing.T) {
			p := load(t, h, file, contract.Manifest{Kind: sdk.KindReward}, contract.PluginConfig{})
			if p.SDKVersion() != sdk.Version {
				t.Fatalf("SDK version %q", p.SDKVersion())
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					req := sdk.RewardRequest{Expected: c.expected, Trace: c.trace}
					want, _ := rewards.ExactMatch{}.Reward(context.Background(), req)
					got, err := p.Reward(context.Background(), req)
					if err != nil {
						t.Fatal(err)
					}
					if got.Score != want.Score {
						t.Fatalf("score %v, native reward says %v", got.Score, want.Score)
					}
				})
			}
			// A group falls back to one reward call per trace.
			g, err := p.RewardGroup(context.Background(), sdk.RewardGroupRequest{Expected: "a",
				Traces: []sdk.Trace{{FinalAnswer: "a"}, {FinalAnswer: "b"}, {FinalAnswer: "a"}}})
			if err != nil {
				t.Fatal(err)
			}
			if want := []float64{1, 0, 1}; !equal(g.Scores, want) {
				t.Fatalf("group scores %v, want %v", g.Scores, want)
			}
		})
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Each hostile function is contained with a clear error, and the same plugin
// (and the host) keep serving.
func TestHostile_WAT(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{})
	const timeout = 300 * time.Millisecond
	p := load(t, h, "hostile-wat.wasm", contract.Manifest{Name: "hostile", Kind: sdk.KindReward},
		contract.PluginConfig{Limits: limits.Limits{Timeout: timeout, MemoryPages: 64, MaxOutputBytes: 1 << 20}})
	other := load(t, h, "exactmatch-wat.wasm", contract.Manifest{}, contract.PluginConfig{})
	tests := []struct {
		name    string
		fn      string
		want    error
		mention []string
	}{
		{name: "loops forever", fn: "loop", want: contract.ErrTimeout, mention: []string{"hostile", "300ms"}},
		{name: "grows memory", fn: "grow", want: wasmhost.ErrMemoryLimit, mention: []string{"64 pages"}},
		{name: "100 MB output", fn: "bigout", want: wasmhost.ErrMemoryLimit, mention: []string{"kernel alloc"}},
		{name: "traps", fn: "trap", want: wasmhost.ErrTrap, mention: []string{"divide by zero"}},
		{name: "wild pointer", fn: "wild", want: wasmhost.ErrTrap, mention: []string{"outside"}},
		{name: "tool not granted", fn: "calltool", want: sdk.ErrPermissionDenied, mention: []string{sdk.HostCallTool, `"tool"`}},
		{name: "log not granted", fn: "log", want: sdk.ErrPermissionDenied, mention: []string{"log_info"}},
		{name: "unknown function", fn: "nope", want: contract.ErrNoFunction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The best of three: the bound is on the runtime, and a busy
			// machine can delay any one call's goroutine.
			var err error
			elapsed := time.Hour
			for try := 0; try < 3 && elapsed > timeout+100*time.Millisecond; try++ {
				start := time.Now()
				_, err = p.Call(context.Background(), tt.fn, nil)
				elapsed = time.Since(start)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, m := range append(tt.mention, `plugin "hostile"`) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if elapsed > timeout+100*time.Millisecond {
				t.Errorf("took %v, limit is the timeout %v + 100ms", elapsed, timeout)
			}
			r, err := p.Reward(context.Background(), sdk.RewardRequest{})
			if err != nil || r.Score != 0.5 {
				t.Fatalf("plugin does not serve after %s: %v %v", tt.fn, r, err)
			}
			r, err = other.Reward(context.Background(), sdk.RewardRequest{Expected: "x", Trace: sdk.Trace{FinalAnswer: "x"}})
			if err != nil || r.Score != 1 {
				t.Fatalf("other plugin does not serve after %s: %v %v", tt.fn, r, err)
			}
		})
	}
	t.Run("output limit", func(t *testing.T) {
		big := load(t, h, "hostile-wat.wasm", contract.Manifest{Name: "hostile-big"},
			contract.PluginConfig{Limits: limits.Limits{MemoryPages: 2048, MaxOutputBytes: 1 << 20}})
		_, err := big.Call(context.Background(), "bigout", nil)
		if !errors.Is(err, contract.ErrOutputLimit) || !strings.Contains(err.Error(), "104857600") {
			t.Fatalf("err = %v, want ErrOutputLimit naming the size", err)
		}
	})
	for _, tt := range []struct {
		fn   string
		want error
	}{{"nan", sdk.ErrInvalidScore}, {"badjson", sdk.ErrInvalidResponse}} {
		t.Run(tt.fn, func(t *testing.T) {
			out, err := p.Call(context.Background(), tt.fn, nil)
			if err != nil {
				t.Fatal(err)
			}
			var r sdk.RewardResponse
			if err := sdk.DecodeResponse(out, &r); !errors.Is(err, tt.want) {
				t.Fatalf("decode %q: err = %v, want %v", out, err, tt.want)
			}
		})
	}
}

func TestHostile_Go(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{})
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOOLBRAIN_TEST_SECRET", "hunter2")
	probe, _ := json.Marshal(map[string]string{"file": secret, "env": "TOOLBRAIN_TEST_SECRET"})
	type result struct {
		FileContent string `json:"file_content"`
		FileError   string `json:"file_error"`
		Env         string `json:"env"`
		EnvFound    bool   `json:"env_found"`
	}
	asks := contract.Permissions{AllowedPaths: []string{dir}, Env: []string{"TOOLBRAIN_TEST_SECRET"}}
	tests := []struct {
		name  string
		asks  contract.Permissions
		grant contract.Permissions
		want  result
	}{
		{name: "nothing granted", asks: asks},
		{name: "granted but not asked", grant: asks},
		{name: "asked and granted", asks: asks, grant: asks, want: result{FileContent: "s3cret", Env: "hunter2", EnvFound: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, h, "hostile-go.wasm", contract.Manifest{Name: "hostile-go", Permissions: tt.asks}, contract.PluginConfig{Grant: tt.grant})
			out, err := p.Call(context.Background(), "probe", probe)
			if err != nil {
				t.Fatal(err)
			}
			var got result
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if tt.want.FileContent == "" && got.FileError == "" {
				t.Errorf("read a host file without a grant: %+v", got)
			}
			got.FileError = ""
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	p := load(t, h, "hostile-go.wasm", contract.Manifest{Name: "hostile-go"}, contract.PluginConfig{Limits: limits.Limits{MemoryPages: 512}})
	_, err := p.Call(context.Background(), "panic", nil)
	if !errors.Is(err, wasmhost.ErrTrap) || !strings.Contains(err.Error(), "hostile plugin panics") {
		t.Fatalf("panic: err = %v, want ErrTrap with the panic message", err)
	}
	_, err = p.Call(context.Background(), "hog", nil)
	if !errors.Is(err, wasmhost.ErrMemoryLimit) || !strings.Contains(err.Error(), "512 pages") {
		t.Fatalf("hog: err = %v, want ErrMemoryLimit naming 512 pages", err)
	}
	if _, err := p.Call(context.Background(), "probe", probe); err != nil {
		t.Fatalf("plugin does not serve after the hostile calls: %v", err)
	}
}

func TestLoad_Errors(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{})
	read := func(name string) []byte {
		b, err := os.ReadFile(pluginbuild.Path(t, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		wasm    []byte
		m       contract.Manifest
		cfg     contract.PluginConfig
		want    error
		mention []string
	}{
		{name: "unknown import", wasm: read("unknown_import.wasm"), m: contract.Manifest{Name: "u", SDKVersion: "1.0"}, want: wasmhost.ErrUnknownImport, mention: []string{"steal_secrets"}},
		{name: "future sdk", wasm: read("future.wasm"), m: contract.Manifest{Name: "f"}, want: sdk.ErrIncompatibleVersion, mention: []string{"2.0", sdk.Version}},
		{name: "future sdk in manifest", wasm: read("exactmatch-as.wasm"), m: contract.Manifest{Name: "f", SDKVersion: "1.9"}, want: nil},
		{name: "not wasm", wasm: []byte("hello"), m: contract.Manifest{Name: "x", SDKVersion: "1.0"}, want: wasmhost.ErrBadModule},
		{name: "no name", wasm: read("exactmatch-wat.wasm"), want: contract.ErrBadConfig},
		{name: "missing kind function", wasm: read("exactmatch-wat.wasm"), m: contract.Manifest{Name: "j", Kind: sdk.KindJudge}, want: contract.ErrNoFunction, mention: []string{"judge"}},
		{name: "memory above wasm32", wasm: read("exactmatch-wat.wasm"), m: contract.Manifest{Name: "big", Limits: limits.Limits{MemoryPages: limits.MaxMemoryPages + 1}}, want: contract.ErrBadConfig, mention: []string{`plugin "big"`, "memory_pages 65537"}},
		{name: "negative timeout from the user", wasm: read("exactmatch-wat.wasm"), m: contract.Manifest{Name: "t"}, cfg: contract.PluginConfig{Limits: limits.Limits{Timeout: -time.Second}}, want: limits.ErrOutOfRange, mention: []string{"negative timeout"}},
		{name: "memory below module minimum", wasm: read("exactmatch-go.wasm"), m: contract.Manifest{Name: "g"}, cfg: contract.PluginConfig{Limits: limits.Limits{MemoryPages: 4}}, want: wasmhost.ErrMemoryLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := h.Load(context.Background(), tt.wasm, tt.m, tt.cfg)
			if tt.want == nil {
				// The module's own export wins over the manifest.
				if err != nil || p.SDKVersion() != "1.0" {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

type adder struct{}

func (adder) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	return sdk.ToolCallResponse{Content: "called " + req.Name}, nil
}

func TestPermissions_HostFunctions(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{Tools: adder{}})
	tool := []string{sdk.PermissionTool}
	tests := []struct {
		name  string
		asks  []string
		grant []string
		ok    bool
	}{
		{name: "neither", ok: false},
		{name: "asked only", asks: tool},
		{name: "granted only", grant: tool},
		{name: "asked and granted", asks: tool, grant: tool, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, h, "hostile-wat.wasm", contract.Manifest{Name: "perm", Permissions: contract.Permissions{HostFunctions: tt.asks}},
				contract.PluginConfig{Grant: contract.Permissions{HostFunctions: tt.grant}})
			_, err := p.Call(context.Background(), "calltool", nil)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, sdk.ErrPermissionDenied)) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// Run with -race: many goroutines share each plugin's pool.
func TestConcurrentCalls(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{})
	var plugins []*wasmhost.Plugin
	for _, f := range exactMatchPlugins {
		plugins = append(plugins, load(t, h, f, contract.Manifest{}, contract.PluginConfig{Limits: limits.Limits{MaxInstances: 3}}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				p := plugins[(g+i)%len(plugins)]
				answer := []string{"a", "b"}[i%2]
				r, err := p.Reward(context.Background(), sdk.RewardRequest{Expected: "a", Trace: sdk.Trace{FinalAnswer: answer}})
				if err != nil {
					errs <- err
					return
				}
				if want := map[string]float64{"a": 1, "b": 0}[answer]; r.Score != want {
					errs <- errors.New(p.Name() + ": wrong score under concurrency")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestDiskCache(t *testing.T) {
	dir := t.TempDir()
	wasm, err := os.ReadFile(pluginbuild.Path(t, "exactmatch-go.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	loadOnce := func() time.Duration {
		h := newHost(t, wasmhost.HostConfig{CacheDir: dir})
		start := time.Now()
		p, err := h.Load(context.Background(), wasm, contract.Manifest{Name: "g"}, contract.PluginConfig{})
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		r, err := p.Reward(context.Background(), sdk.RewardRequest{Expected: "1", Trace: sdk.Trace{FinalAnswer: "1"}})
		if err != nil || r.Score != 1 {
			t.Fatalf("%v %v", r, err)
		}
		h.Close(context.Background())
		return d
	}
	cold := loadOnce()
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 {
		t.Fatal("nothing written to the cache directory")
	}
	warm := loadOnce()
	// Only logged: on a loaded 2-core machine wall times are noise; the
	// benchmark BenchmarkLoad_FromDiskCache measures it.
	t.Logf("load without cache %v, from disk cache %v", cold, warm)
}

func TestCall_ContextCancel(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{})
	p := load(t, h, "hostile-wat.wasm", contract.Manifest{Name: "c"}, contract.PluginConfig{Limits: limits.Limits{Timeout: 10 * time.Second}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Call(ctx, "loop", nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, contract.ErrTimeout) {
		t.Fatalf("err = %v, want the caller's context error", err)
	}
}

func TestPlugin_Closed(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{})
	p := load(t, h, "exactmatch-wat.wasm", contract.Manifest{}, contract.PluginConfig{})
	p.Close(context.Background())
	if _, err := p.Call(context.Background(), "reward", nil); !errors.Is(err, contract.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

// An Instance keeps its module's state from call to call, and no other
// Instance of the plugin sees it.
func TestInstance_KeepsItsOwnState(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{})
	p := load(t, h, "interpreter-starlark.wasm", contract.Manifest{Kind: sdk.KindInterpreter}, contract.PluginConfig{Limits: limits.Limits{MemoryPages: 1024}})
	ctx := context.Background()
	a, b := newInstance(t, p), newInstance(t, p)
	if r, err := a.Interpret(ctx, sdk.InterpretRequest{Code: "secret = 42"}); err != nil || r.Error != "" {
		t.Fatalf("set a global: %+v %v", r, err)
	}
	for _, tt := range []struct {
		name    string
		in      *wasmhost.Instance
		stdout  string
		errKind string
	}{
		{name: "same instance", in: a, stdout: "42\n"},
		{name: "other instance", in: b, errKind: sdk.InterpretErrorSyntax},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.in.Interpret(ctx, sdk.InterpretRequest{Code: "print(secret)"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Stdout != tt.stdout || r.ErrorKind != tt.errKind {
				t.Fatalf("got stdout %q, error %q (%s); want stdout %q, error kind %q", r.Stdout, r.Error, r.ErrorKind, tt.stdout, tt.errKind)
			}
		})
	}
	if a.MemoryBytes() == 0 {
		t.Error("MemoryBytes is 0 on a live instance")
	}
}

// A call that traps or breaks a limit closes the instance; one that fails
// cleanly does not; Close closes it.
func TestInstance_Health(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{})
	p := load(t, h, "hostile-wat.wasm", contract.Manifest{Name: "hostile", Kind: sdk.KindReward},
		contract.PluginConfig{Limits: limits.Limits{MemoryPages: 64, MaxOutputBytes: 1 << 20}})
	ctx := context.Background()
	tests := []struct {
		name    string
		fn      string
		want    error
		healthy bool
	}{
		{name: "traps", fn: "trap", want: wasmhost.ErrTrap},
		{name: "grows memory", fn: "grow", want: wasmhost.ErrMemoryLimit},
		{name: "unknown function", fn: "nope", want: contract.ErrNoFunction, healthy: true},
		{name: "serves", fn: sdk.RewardFunction, healthy: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInstance(t, p)
			if _, err := in.Call(ctx, tt.fn, nil); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if in.Healthy() != tt.healthy {
				t.Fatalf("Healthy() = %v after %s, want %v", in.Healthy(), tt.fn, tt.healthy)
			}
			_, err := in.Call(ctx, sdk.RewardFunction, []byte(`{}`))
			if tt.healthy && err != nil {
				t.Fatalf("a healthy instance does not serve: %v", err)
			}
			if !tt.healthy && !errors.Is(err, contract.ErrClosed) {
				t.Fatalf("a failed instance: err = %v, want ErrClosed", err)
			}
			in.Close()
			if _, err := in.Call(ctx, sdk.RewardFunction, nil); !errors.Is(err, contract.ErrClosed) || in.Healthy() {
				t.Fatalf("after Close: err = %v, healthy %v; want ErrClosed", err, in.Healthy())
			}
		})
	}
	p.Close(ctx)
	if _, err := p.NewInstance(ctx); !errors.Is(err, contract.ErrClosed) {
		t.Fatalf("NewInstance of a closed plugin: err = %v, want ErrClosed", err)
	}
}

// newInstance starts an Instance of p, closed when the test ends.
func newInstance(t *testing.T, p *wasmhost.Plugin) *wasmhost.Instance {
	t.Helper()
	in, err := p.NewInstance(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	return in
}
