package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultTOML_MatchesDefault(t *testing.T) {
	cfg, err := Parse("default.toml", DefaultTOML)
	if err != nil {
		t.Fatal(err)
	}
	// The documented file must say exactly what Default() does (nil and
	// empty stop lists are the same thing).
	want := Default()
	want.Generate.Stop = []string{}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("default.toml decodes to\n%+v\nwant Default()\n%+v", cfg, want)
	}
}

func TestRootTOML_IsTheEmbeddedDefault(t *testing.T) {
	root, err := os.ReadFile(filepath.Join("..", "..", "toolbrain.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(root) != DefaultTOML {
		t.Error("toolbrain.toml at the repository root differs from core/config/default.toml: copy one onto the other")
	}
}

func TestParse(t *testing.T) {
	cfg, err := Parse("t.toml", "[core]\nquant = \"nf4\"\n[generate]\ntemperature = 0\nstop = [\"\\n\\n\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Core.Quant != "nf4" || cfg.Generate.Temperature != 0 || cfg.Generate.Stop[0] != "\n\n" {
		t.Errorf("got %+v", cfg)
	}
	if cfg2, err := Parse("t.toml", "[plugins.limits]\ntimeout = \"250ms\"\n"); err != nil || cfg2.Plugins.Limits.Timeout.Milliseconds() != 250 {
		t.Errorf("timeout = \"250ms\": %v, %v", cfg2.Plugins.Limits.Timeout, err)
	}
	if cfg.Generate.MaxNewTokens != Default().Generate.MaxNewTokens {
		t.Error("an absent key must keep its default")
	}
	j, err := Parse("t.toml", "[judge]\nendpoint = \"http://localhost:8000/v1\"\nmodel = \"qwen\"\ntimeout = \"90s\"\n")
	if err != nil || j.Judge.Endpoint != "http://localhost:8000/v1" || j.Judge.Model != "qwen" || j.Judge.Timeout.Seconds() != 90 ||
		j.Judge.APIKeyEnv != "OPENAI_API_KEY" || !j.Judge.Configured() {
		t.Errorf("[judge]: %+v, %v", j.Judge, err)
	}
	r, err := Parse("t.toml", "[[rewards]]\nplugin = \"judge.wasm\"\nmanifest = \"m.toml\"\ngrant = [\"llm\", \"config\"]\nrubric = \"short\"\n[rewards.config]\nmax_tokens = \"64\"\n")
	if err != nil || len(r.Rewards) != 1 || r.Rewards[0].Config["max_tokens"] != "64" || len(r.Rewards[0].Grant) != 2 || r.Rewards[0].Rubric != "short" {
		t.Errorf("plugin reward: %+v, %v", r.Rewards, err)
	}
	bj, err := Parse("t.toml", "[judge]\ncheckpoint = \"m\"\ncall_timeout = \"2m\"\n[[rewards]]\nname = \"correctness_judge\"\nweight = 1.0\nrubric = \"numbers only\"\n[rewards.config]\nmax_tokens = \"64\"\n")
	if err != nil || bj.Judge.CallTimeout != 2*time.Minute || bj.Rewards[0].Rubric != "numbers only" || bj.Rewards[0].Config["max_tokens"] != "64" {
		t.Errorf("built-in judge reward: %+v, %+v, %v", bj.Judge, bj.Rewards, err)
	}
	rt, err := Parse("t.toml", "[retrieval]\nenabled = true\nk = 3\nmethod = \"fused\"\nembedder = \"/ckpt\"\nrerank = true\n[judge]\ncheckpoint = \"/judge\"\n")
	if want := (Retrieval{Enabled: true, K: 3, Method: "fused", Embedder: "/ckpt", Rerank: true}); err != nil || rt.Retrieval != want {
		t.Errorf("[retrieval]: %+v, %v; want %+v", rt.Retrieval, err, want)
	}
	if d := Default().Retrieval; d.Enabled || d.K != 8 || d.Method != "bm25" || d.Embedder != "model" {
		t.Errorf("default [retrieval] %+v", d)
	}
	if Default().Judge.Configured() {
		t.Error("the default configures no judge model")
	}
	for _, be := range []string{"cpu", "cpu:kernel=avx2", "go:ops_sequential", "xla:cuda"} {
		if c, err := Parse("t.toml", "[core]\nbackend = \""+be+"\"\n"); err != nil || c.Core.Backend != be {
			t.Errorf("backend = %q: %v", be, err)
		}
	}
}

func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // substrings of the error
	}{
		{name: "unknown key", src: "[core]\nbackend = \"go\"\nmodle = \"x\"\n", want: []string{"t.toml:3", `unknown key "core.modle"`}},
		{name: "unknown table", src: "[core]\n\n[trian]\nsteps = 3\n", want: []string{"t.toml:3", `"trian`}},
		{name: "wrong type", src: "[generate]\nmax_new_tokens = \"ten\"\n", want: []string{"t.toml:2: generate.max_new_tokens: incompatible types"}},
		{name: "out of range", src: "[generate]\n\ntop_p = 1.5\n", want: []string{"t.toml:3", "generate.top_p", "got 1.5"}},
		{name: "negative top_k", src: "[generate]\ntop_k = -1\n", want: []string{"t.toml:2", "generate.top_k"}},
		{name: "negative micro_batch", src: "[train]\nmicro_batch = -1\n", want: []string{"t.toml:2", "train.micro_batch", "got -1"}},
		{name: "odd dpo micro_batch", src: "[train]\nmethod = \"dpo\"\nmicro_batch = 3\n", want: []string{"t.toml:3", "train.micro_batch", "even"}},
		{name: "bad quant", src: "[core]\nquant = \"int3\"\n", want: []string{"t.toml:2", "core.quant", "int3"}},
		{name: "bad backend", src: "[core]\nbackend = \"tpu\"\n", want: []string{"t.toml:2", "core.backend"}},
		{name: "backend name prefix", src: "[core]\nbackend = \"cpux\"\n", want: []string{"t.toml:2", "core.backend"}},
		{name: "empty stop", src: "[generate]\nstop = [\"\"]\n", want: []string{"t.toml:2", "generate.stop"}},
		{name: "plugin memory above wasm32", src: "[plugins.limits]\nmemory_pages = 70000\n", want: []string{"t.toml:2", "plugins.limits.memory_pages"}},
		{name: "negative plugin timeout", src: "[plugins.limits]\ntimeout = \"-1s\"\n", want: []string{"t.toml:2", "plugins.limits.timeout"}},
		{name: "plugin timeout not a duration", src: "[plugins.limits]\ntimeout = \"soon\"\n", want: []string{"t.toml:2", "timeout"}},
		{name: "unknown plugin limit", src: "[plugins.limits]\ncpu = 1\n", want: []string{"t.toml:2", `"plugins.limits.cpu"`}},
		{name: "reward without name", src: "[[rewards]]\nname = \"exact_match\"\n\n[[rewards]]\nweight = 2.0\n", want: []string{"t.toml:4", "rewards[1].name"}},
		{name: "negative max_turns", src: "[[rewards]]\nname = \"step_efficiency\"\nmax_turns = -3\n", want: []string{"t.toml:3", "rewards[0].max_turns"}},
		{name: "bad scale_rewards", src: "[algorithm]\nscale_rewards = \"global\"\n", want: []string{"t.toml:2", "algorithm.scale_rewards"}},
		{name: "syntax", src: "[core\n", want: []string{"t.toml:2", "table name"}},
		{name: "judge endpoint and checkpoint", src: "[judge]\nendpoint = \"http://x/v1\"\nmodel = \"m\"\ncheckpoint = \"/m\"\n", want: []string{"t.toml:4", "judge.checkpoint", "not both"}},
		{name: "judge endpoint not a URL", src: "[judge]\nendpoint = \"localhost:8000\"\nmodel = \"m\"\n", want: []string{"t.toml:2", "judge.endpoint", "http://"}},
		{name: "judge endpoint without model", src: "[judge]\nendpoint = \"http://x/v1\"\n", want: []string{"judge.model", "name of the model"}},
		{name: "judge model without endpoint", src: "[judge]\n\nmodel = \"gpt\"\n", want: []string{"t.toml:3", "judge.model", "checkpoint"}},
		{name: "judge negative timeout", src: "[judge]\ntimeout = \"-2s\"\n", want: []string{"t.toml:2", "judge.timeout"}},
		{name: "judge negative max_tokens", src: "[judge]\nmax_tokens = -1\n", want: []string{"t.toml:2", "judge.max_tokens"}},
		{name: "judge negative call_timeout", src: "[judge]\ncall_timeout = \"-1s\"\n", want: []string{"t.toml:2", "judge.call_timeout"}},
		{name: "rubric on a non-judge built-in", src: "[[rewards]]\nname = \"exact_match\"\nrubric = \"short\"\n", want: []string{"rewards[0].plugin", "built-in judge", `"exact_match" is neither`}},
		{name: "built-in judge without a judge model", src: "[[rewards]]\nname = \"relative_judge\"\n", want: []string{"rewards[0].name", "relative_judge asks the [judge] model"}},
		{name: "plugin options without plugin", src: "[[rewards]]\nname = \"exact_match\"\ngrant = [\"llm\"]\n", want: []string{"rewards[0].plugin", "apply to a plugin"}},
		{name: "unknown grant", src: "[[rewards]]\nplugin = \"j.wasm\"\ngrant = [\"net\"]\n", want: []string{"t.toml:3", "rewards[0].grant", "net"}},
		{name: "judge unknown key", src: "[judge]\nurl = \"x\"\n", want: []string{"t.toml:2", `"judge.url"`}},
		{name: "mcp command and url", src: "[[mcp]]\nname = \"m\"\ncommand = [\"x\"]\nurl = \"http://h/mcp\"\ngrant = [\"*\"]\n", want: []string{"t.toml:4", "mcp[0].url", "not both"}},
		{name: "mcp neither", src: "[[mcp]]\nname = \"m\"\ngrant = [\"*\"]\n", want: []string{"mcp[0].command", "command"}},
		{name: "mcp bad name", src: "[[mcp]]\nname = \"my-server\"\ncommand = [\"x\"]\ngrant = [\"*\"]\n", want: []string{"t.toml:2", "mcp[0].name", "my-server"}},
		{name: "mcp no grant", src: "[[mcp]]\nname = \"m\"\ncommand = [\"x\"]\n", want: []string{"mcp[0].grant", "toolbrain mcp list m"}},
		{name: "mcp headers without url", src: "[[mcp]]\nname = \"m\"\ncommand = [\"x\"]\ngrant = [\"*\"]\nheaders = {A = \"b\"}\n", want: []string{"t.toml:5", "mcp[0].headers"}},
		{name: "mcp url scheme", src: "[[mcp]]\nname = \"m\"\nurl = \"localhost:80\"\ngrant = [\"*\"]\n", want: []string{"t.toml:3", "mcp[0].url", "http://"}},
		{name: "mcp negative timeout", src: "[[mcp]]\nname = \"m\"\ncommand = [\"x\"]\ngrant = [\"*\"]\ntimeout = \"-1s\"\n", want: []string{"t.toml:5", "mcp[0].timeout"}},
		{name: "mcp duplicate name", src: "[[mcp]]\nname = \"m\"\ncommand = [\"x\"]\ngrant = [\"*\"]\n\n[[mcp]]\nname = \"m\"\nurl = \"http://h/mcp\"\ngrant = [\"*\"]\n", want: []string{"t.toml:7", "mcp[1].name", "another"}},
		{name: "retrieval k zero", src: "[retrieval]\nenabled = true\nk = 0\n", want: []string{"t.toml:3", "retrieval.k", "got 0"}},
		{name: "retrieval unknown method", src: "[retrieval]\nmethod = \"dense\"\n", want: []string{"t.toml:2", "retrieval.method", "dense"}},
		{name: "retrieval fused without embedder", src: "[retrieval]\nmethod = \"fused\"\nembedder = \"\"\n", want: []string{"t.toml:3", "retrieval.embedder"}},
		{name: "retrieval rerank without judge", src: "[retrieval]\nenabled = true\nrerank = true\n", want: []string{"t.toml:3", "retrieval.rerank", "[judge]"}},
		{name: "retrieval unknown key", src: "[retrieval]\ntop_k = 3\n", want: []string{"t.toml:2", `"retrieval.top_k"`}},
		{name: "mcp unknown key", src: "[[mcp]]\nname = \"m\"\ncmd = [\"x\"]\n", want: []string{"t.toml:3", `"mcp.cmd"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", tt.src)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParse_MCP(t *testing.T) {
	cfg, err := Parse("t.toml", `
[[mcp]]
name = "mail"
command = ["mail-mcp", "--corpus", "data"]
grant = ["search_emails"]
timeout = "5s"

[[mcp]]
name = "web"
url = "https://example.com/mcp"
headers = { X-Team = "a" }
bearer_token_env = "WEB_TOKEN"
grant = ["*"]
max_output_bytes = 1000
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.MCP) != 2 || cfg.MCP[0].Timeout != 5*time.Second || cfg.MCP[0].Command[2] != "data" || cfg.MCP[1].Headers["X-Team"] != "a" || cfg.MCP[1].MaxOutputBytes != 1000 {
		t.Fatalf("decoded %+v", cfg.MCP)
	}
	if m, err := cfg.MCPServer("web"); err != nil || m.BearerTokenEnv != "WEB_TOKEN" {
		t.Errorf("MCPServer(web) = %+v, %v", m, err)
	}
	if _, err := cfg.MCPServer("nope"); err == nil || !strings.Contains(err.Error(), "servers: mail, web") {
		t.Errorf("MCPServer(nope): %v", err)
	}
}

func TestParse_RewardsReplaceTheDefault(t *testing.T) {
	cfg, err := Parse("t.toml", "[[rewards]]\nname = \"token_f1\"\nweight = 0.5\n\n[[rewards]]\nplugin = \"r.wasm\"\nweight = 2.0\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []Reward{{Name: "token_f1", Weight: 0.5}, {Plugin: "r.wasm", Weight: 2}}
	if !reflect.DeepEqual(cfg.Rewards, want) {
		t.Errorf("rewards = %+v, want %+v (the file's list replaces the default one)", cfg.Rewards, want)
	}
}

func TestLoad_MissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("Load of a missing file: %v, want an error naming it", err)
	}
}

// A value out of range keeps its *FieldError in the chain, next to
// ErrInvalid, so a caller can find the key with errors.As.
func TestParse_FieldErrorAs(t *testing.T) {
	_, err := Parse("t.toml", "[[rewards]]\nname = \"step_efficiency\"\nmax_turns = -3\n")
	var fe *FieldError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Key != "rewards[0].max_turns" {
		t.Fatalf("err = %v (field error %+v), want ErrInvalid and a *FieldError for rewards[0].max_turns", err, fe)
	}
	if !strings.Contains(err.Error(), "t.toml:3: rewards[0].max_turns: ") {
		t.Fatalf("message %q lost its file:line: key: form", err)
	}
}
