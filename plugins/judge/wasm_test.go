package judge_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/plugins/judge"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

var (
	wasmOnce  sync.Once
	wasmBytes []byte
	wasmErr   error
)

// judgeWasm is plugins/build/judge.wasm, built by plugins/build.sh from
// wasm/ here (rebuilt whenever a file of plugins/judge is newer).
func judgeWasm(t *testing.T) []byte {
	t.Helper()
	path := pluginbuild.Path(t, "judge.wasm")
	wasmOnce.Do(func() { wasmBytes, wasmErr = os.ReadFile(path) })
	if wasmErr != nil {
		t.Fatal(wasmErr)
	}
	return wasmBytes
}

// manifest decodes wasm/manifest.toml strictly.
func manifest(t *testing.T) contract.Manifest {
	t.Helper()
	var m contract.Manifest
	md, err := toml.DecodeFile(filepath.Join("wasm", "manifest.toml"), &m)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("manifest.toml: unknown keys %v", u)
	}
	return m
}

func TestWasm_Manifest(t *testing.T) {
	m := manifest(t)
	if m.Name != "judge-go" || m.Kind != sdk.KindJudge || m.SDKVersion != sdk.Version {
		t.Errorf("manifest %+v, want judge-go, kind judge, sdk %s", m, sdk.Version)
	}
	if !m.Permissions.Has(sdk.PermissionLLM) || !m.Permissions.Has(sdk.PermissionConfig) {
		t.Errorf("manifest permissions %v, want llm and config", m.Permissions.HostFunctions)
	}
	if m.Limits.Timeout < time.Minute {
		t.Errorf("manifest timeout %v: an LLM answer takes longer", m.Limits.Timeout)
	}
}

// fakeLLM answers with the given texts in turn and records the requests.
type fakeLLM struct {
	mu      sync.Mutex
	answers []string
	err     error
	got     []sdk.LLMRequest
}

func (f *fakeLLM) llm(_ context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, req)
	if f.err != nil {
		return sdk.LLMResponse{}, f.err
	}
	if len(f.got) > len(f.answers) {
		return sdk.LLMResponse{}, errors.New("fake LLM: asked too often")
	}
	return sdk.LLMResponse{Text: f.answers[len(f.got)-1]}, nil
}

var grantAll = contract.Permissions{HostFunctions: []string{sdk.PermissionLLM, sdk.PermissionConfig}}

// loadJudge loads judge-go with its manifest on a host whose LLM is f.
func loadJudge(t *testing.T, f *fakeLLM, grant contract.Permissions, config map[string]string) *wasmhost.Plugin {
	t.Helper()
	wasm := judgeWasm(t)
	ctx := context.Background()
	// The disk cache is shared with the other plugin tests: compiling a
	// 4 MB Go module takes seconds on 2 cores, loading it milliseconds.
	h, err := wasmhost.NewHost(ctx, wasmhost.HostConfig{
		CacheDir: filepath.Join(os.TempDir(), "toolbrain-test-wasm-cache"),
		LLM:      sdk.LLMFunc(f.llm),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	p, err := h.Load(ctx, wasm, manifest(t), contract.PluginConfig{Grant: grant, Config: config})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	return p
}

// The plugin and the native judge give the same responses for the same
// answers of the model, and the plugin's prompt shows every final answer,
// the expected answer and the configured rubric.
func TestWasm_Judge(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]string
		req     sdk.JudgeRequest
		answers []string
		want    sdk.JudgeResponse
		asks    int
	}{
		{name: "fenced json", config: map[string]string{"max_tokens": "99", "rubric": "be strict"}, req: group(),
			answers: []string{"Here you go: ```json\n{\"ranking\":[1,0,2]}\n```"},
			want:    sdk.JudgeResponse{Ranking: []int{1, 0, 2}, Scores: []float64{0.5, 1, 0}}, asks: 1},
		{name: "retry after garbage", req: group(),
			answers: []string{"They are all fine.", `{"ranking": [3, 1, 2]}`},
			want:    sdk.JudgeResponse{Ranking: []int{2, 0, 1}, Scores: []float64{0.5, 0, 1}}, asks: 2},
		{name: "one trace, no question", req: sdk.JudgeRequest{Traces: []sdk.Trace{{FinalAnswer: "x"}}},
			want: sdk.JudgeResponse{Ranking: []int{0}, Scores: []float64{1}}, asks: 0},
		{name: "relative", config: map[string]string{"style": "relative"}, req: group(),
			answers: []string{`{"scores": [{"trajectory_id": "1", "score": 0.9}, {"trajectory_id": "2", "score": 0.2}, {"trajectory_id": "3", "score": 0}]}`},
			want:    sdk.JudgeResponse{Scores: []float64{0.9, 0.2, 0}}, asks: 1},
		{name: "correctness", config: map[string]string{"style": "correctness"}, req: group(),
			answers: []string{`{"accept": true}`, `{"accept": false}`},
			want:    sdk.JudgeResponse{Scores: []float64{1, 0, 0}}, asks: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLLM{answers: tt.answers}
			p := loadJudge(t, f, grantAll, tt.config)
			got, err := p.Judge(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("wasm Judge = %+v, want %+v", got, tt.want)
			}
			if len(f.got) != tt.asks {
				t.Fatalf("LLM asked %d times, want %d", len(f.got), tt.asks)
			}

			native := &fakeLLM{answers: tt.answers}
			j, err := judge.FromConfig(tt.config)
			if err != nil {
				t.Fatal(err)
			}
			want, err := judge.Model{Of: j, LLM: sdk.LLMFunc(native.llm)}.Judge(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("wasm %+v, native %+v", got, want)
			}
			if !reflect.DeepEqual(f.got, native.got) {
				t.Errorf("wasm and native asked differently:\nwasm   %+v\nnative %+v", f.got, native.got)
			}
			if tt.asks == 0 {
				return
			}
			user := f.got[0].Messages[len(f.got[0].Messages)-1].Content
			for _, tr := range tt.req.Traces {
				if tt.config["style"] == judge.StyleCorrectness {
					break // one trace a request
				}
				if tr.FinalAnswer != "" && !strings.Contains(user, "Final answer: "+tr.FinalAnswer+"\n") {
					t.Errorf("prompt lacks final answer %q:\n%s", tr.FinalAnswer, user)
				}
			}
			if !strings.Contains(user, "# Expected answer\n42") && !strings.Contains(user, "# Reference answer\n42") {
				t.Errorf("prompt lacks the expected answer:\n%s", user)
			}
			if rubric := tt.config["rubric"]; rubric != "" && !strings.Contains(user, "# Rubric\n"+rubric) {
				t.Errorf("prompt lacks the configured rubric %q", rubric)
			}
			if want := tt.config["max_tokens"]; want != "" && fmt.Sprint(f.got[0].MaxTokens) != want {
				t.Errorf("max_tokens %d, want %s from the config", f.got[0].MaxTokens, want)
			}
		})
	}
}

func TestWasm_Judge_Errors(t *testing.T) {
	errDown := errors.New("endpoint down")
	tests := []struct {
		name    string
		grant   contract.Permissions
		config  map[string]string
		llm     *fakeLLM
		is      error
		mention []string
		asks    int
	}{
		{name: "garbage twice", grant: grantAll, llm: &fakeLLM{answers: []string{"dunno", "still dunno"}},
			is: contract.ErrPluginFailed, mention: []string{"judge-go", "no ranking in two answers", `"dunno"`, `"still dunno"`}, asks: 2},
		{name: "no llm permission", grant: contract.Permissions{HostFunctions: []string{sdk.PermissionConfig}}, llm: &fakeLLM{},
			is: sdk.ErrPermissionDenied, mention: []string{sdk.HostLLM, `permission "llm"`}},
		{name: "no config permission", grant: contract.Permissions{HostFunctions: []string{sdk.PermissionLLM}}, llm: &fakeLLM{},
			is: sdk.ErrPermissionDenied, mention: []string{"config_get", `permission "config"`}},
		// The host's error, not the plugin's: errors.Is still finds it.
		{name: "LLM fails", grant: grantAll, llm: &fakeLLM{err: errDown},
			is: errDown, mention: []string{sdk.HostLLM}, asks: 1},
		{name: "bad config", grant: grantAll, config: map[string]string{"max_tokens": "lots"}, llm: &fakeLLM{},
			is: contract.ErrPluginFailed, mention: []string{"judge-go: config", `max_tokens "lots"`}},
		{name: "unknown style", grant: grantAll, config: map[string]string{"style": "vibes"}, llm: &fakeLLM{},
			is: contract.ErrPluginFailed, mention: []string{"judge-go: config", `style "vibes"`}},
		// The coach reads the unreadable answer from the plugin's error text.
		{name: "relative, garbage twice", grant: grantAll, config: map[string]string{"style": "relative"}, llm: &fakeLLM{answers: []string{"?", "??"}},
			is: contract.ErrPluginFailed, mention: []string{"no scores in two answers", sdk.ErrUnreadableAnswer.Error()}, asks: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := loadJudge(t, tt.llm, tt.grant, tt.config)
			_, err := p.Judge(context.Background(), group())
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("err = %v, want it to mention %q", err, m)
				}
			}
			if len(tt.llm.got) != tt.asks {
				t.Errorf("LLM asked %d times, want %d", len(tt.llm.got), tt.asks)
			}
		})
	}
}
