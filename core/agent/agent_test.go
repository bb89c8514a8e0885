package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/generate"
)

// TestCodeAct_ScriptedEpisode runs a full CodeAct episode end to end: a
// scripted model, the real Starlark sandbox and the calculator tool pack.
// The model calls the calculator, makes a mistake, reads the error, and
// answers; the trace must hold every turn and exactly the ids the model saw.
func TestCodeAct_ScriptedEpisode(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	tools, specs := calculator(t)
	sb := newSandbox(t, tools, specs)
	m := newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{
		"Thought: multiply with the calculator.\n```python\nx = arith(op=\"mul\", a=6, b=7)\nprint(\"product\", x)\n```",
		"Let me check y.\n```python\nprint(y)\n```",
		"Done.\n```python\nfinal_answer(x)\n```",
	}))
	a, err := agent.New(agent.CodeAct, agent.Config{
		Model: m, Tokenizer: tok, Template: tpl, Tools: specs, Sandbox: sb,
		Sampling: generate.Options{Temperature: 1, MaxNewTokens: 200},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := a.Run(context.Background(), agent.Task{ID: "mul", Prompt: "What is 6 times 7?"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Error != "" || tr.FinalAnswer != "42" || len(tr.Turns) != 3 {
		t.Fatalf("error %q, answer %q, %d turns", tr.Error, tr.FinalAnswer, len(tr.Turns))
	}
	t1, t2, t3 := tr.Turns[0], tr.Turns[1], tr.Turns[2]
	if t1.Code != "x = arith(op=\"mul\", a=6, b=7)\nprint(\"product\", x)" {
		t.Errorf("turn 1 code %q", t1.Code)
	}
	if len(t1.ToolCalls) != 1 || t1.ToolCalls[0].Name != "arith" || !jsonEqual(t1.ToolCalls[0].Arguments, `{"op":"mul","a":6,"b":7}`) {
		t.Errorf("turn 1 tool calls %+v", t1.ToolCalls)
	}
	if len(t1.Observations) != 1 || t1.Observations[0].Content != "product 42\n" || t1.Observations[0].IsError {
		t.Errorf("turn 1 observations %+v", t1.Observations)
	}
	if o := t2.Observations; len(o) != 1 || !o[0].IsError || !strings.Contains(o[0].Content, "line 1") || !strings.Contains(o[0].Content, "y") || t2.Error == "" {
		t.Errorf("turn 2: observations %+v, error %q", o, t2.Error)
	}
	if t3.Code != "final_answer(x)" || len(t3.Tokens.ObservationIDs) != 0 {
		t.Errorf("turn 3: code %q, %d observation ids", t3.Code, len(t3.Tokens.ObservationIDs))
	}

	// The prompt is the template's rendering, encoded once.
	text, err := tpl.Render([]chattemplate.Message{{Role: "system", Content: a.System()}, {Role: "user", Content: "What is 6 times 7?"}},
		chattemplate.Options{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	if !equal(t1.Tokens.PromptIDs, tok.Encode(text)) || t1.Prompt != text {
		t.Error("turn 1 prompt ids are not the rendered prompt's")
	}
	// The observation ids are ChatML's glue around the observation: the
	// model wrote <|im_end|> itself, so the delta starts with the new line
	// after it.
	want := "\n<|im_start|>user\nObservation:\nproduct 42\n<|im_end|>\n<|im_start|>assistant\n"
	if got := tok.Decode(t1.Tokens.ObservationIDs); got != want {
		t.Errorf("turn 1 observation text %q, want %q", got, want)
	}
	checkExactTokens(t, tr, m.rows[0])

	var buf bytes.Buffer
	if err := agent.RenderTrace(&buf, tr); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"3 turns, 1 tool calls", "│ x = arith(op=\"mul\", a=6, b=7)", "tool call: arith(", "│ product 42", "observation (error)", `final answer: "42"`} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("rendered trace lacks %q:\n%s", s, buf.String())
		}
	}
}

// TestToolCalling_ScriptedEpisode: a Hermes-format episode on the
// calculator pack with a good call, a call refused by the schema, a call
// that does not parse, and a text answer.
func TestToolCalling_ScriptedEpisode(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	tools, specs := calculator(t)
	m := newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{
		`<tool_call>{"name": "arith", "arguments": {"op": "add", "a": 2, "b": 3}}</tool_call>`,
		"<tool_call>\n{\"name\": \"sqrt\", \"arguments\": {\"x\": \"four\"}}\n</tool_call>",
		`<tool_call>{"name": arith}</tool_call>`,
		"The sum is 5.",
	}))
	a, err := agent.New(agent.ToolCalling, agent.Config{
		Model: m, Tokenizer: tok, Template: tpl, Tools: specs, Tool: tools,
		Sampling: generate.Options{Temperature: 1, MaxNewTokens: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := a.Run(context.Background(), agent.Task{ID: "add", Prompt: "2+3?"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.FinalAnswer != "The sum is 5." || len(tr.Turns) != 4 || tr.Error != "" {
		t.Fatalf("answer %q, %d turns, error %q", tr.FinalAnswer, len(tr.Turns), tr.Error)
	}
	tests := []struct {
		name    string
		turn    int
		call    string
		content string
		isError bool
	}{
		{name: "good call", turn: 0, call: "arith", content: "5"},
		{name: "schema refusal", turn: 1, call: "sqrt", content: "/x", isError: true},
		{name: "syntax error", turn: 2, content: "malformed tool call", isError: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			turn := tr.Turns[tc.turn]
			if len(turn.Observations) != 1 {
				t.Fatalf("observations %+v", turn.Observations)
			}
			o := turn.Observations[0]
			if !strings.Contains(o.Content, tc.content) || o.IsError != tc.isError || o.Name != tc.call {
				t.Errorf("observation %+v", o)
			}
			if tc.call != "" && (len(turn.ToolCalls) != 1 || turn.ToolCalls[0].ID != o.ToolCallID) {
				t.Errorf("tool calls %+v", turn.ToolCalls)
			}
			// The tool result is rendered by the template as a tool message.
			got := tok.Decode(turn.Tokens.ObservationIDs)
			want := "\n<|im_start|>tool\n" + o.Content + "<|im_end|>\n<|im_start|>assistant\n"
			if got != want {
				t.Errorf("observation text %q, want %q", got, want)
			}
		})
	}
	checkExactTokens(t, tr, m.rows[0])
}

// TestRunGroup_Lockstep runs three CodeAct episodes that finish after one,
// two and three turns through one session: every row's ids are exact, and
// the model is called once per decoding step of the group (a turn costs as
// many steps as its longest reply), not once per step of each episode.
func TestRunGroup_Lockstep(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	tools, specs := calculator(t)
	sb := newSandbox(t, tools, specs)
	m := newScriptModel(tok.VocabSize(), end, replies(tok, end,
		[]string{"```python\nfinal_answer(1)\n```"},
		[]string{"```python\nx = 2\n```", "```python\nfinal_answer(x)\n```"},
		[]string{"no code", "```python\nprint(sqrt(x=9))\n```", "Thought: that is it.\n```python\nfinal_answer(sqrt(x=9))\n```"},
	))
	a, err := agent.New(agent.CodeAct, agent.Config{Model: m, Tokenizer: tok, Template: tpl, Tools: specs, Sandbox: sb,
		Sampling: generate.Options{Temperature: 1, MaxNewTokens: 100}})
	if err != nil {
		t.Fatal(err)
	}
	tasks := []agent.Task{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	trs, err := a.RunGroup(context.Background(), tasks)
	if err != nil {
		t.Fatal(err)
	}
	wantAnswers := []string{"1", "2", "3"}
	steps := 0
	for turn := range 3 {
		longest := 0
		for b, tr := range trs {
			if turn < len(tr.Turns) {
				longest = max(longest, len(tr.Turns[turn].Tokens.GeneratedIDs))
			}
			_ = b
		}
		steps += longest
	}
	for b, tr := range trs {
		if len(tr.Turns) != b+1 || tr.FinalAnswer != wantAnswers[b] {
			t.Errorf("episode %d: %d turns, answer %q, error %q", b, len(tr.Turns), tr.FinalAnswer, tr.Error)
		}
		checkExactTokens(t, tr, m.rows[b])
	}
	if len(m.calls) != steps {
		t.Errorf("%d model calls, want %d (one per step of the group)", len(m.calls), steps)
	}
	if o := trs[2].Turns[0].Observations; len(o) != 1 || !o[0].IsError || !strings.Contains(o[0].Content, "no code") {
		t.Errorf("a reply without code: %+v", o)
	}
}

// TestRunGroup_Limits: the turn limit and a full context end an episode with
// an error in its trace, not an error of the run.
func TestRunGroup_Limits(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	tools, specs := calculator(t)
	sb := newSandbox(t, tools, specs)
	loop := []string{"```python\nprint('again')\n```", "```python\nprint('again')\n```", "```python\nprint('again')\n```"}
	tests := []struct {
		name   string
		cfg    agent.Config
		turns  int
		errHas string
	}{
		{name: "turn limit", cfg: agent.Config{MaxTurns: 2}, turns: 2, errHas: "turn limit"},
		{name: "context full", cfg: agent.Config{MaxLen: 220}, turns: -1, errHas: "context full"},
		{name: "prompt too long", cfg: agent.Config{MaxLen: 30}, turns: 0, errHas: "no room"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Model = newScriptModel(tok.VocabSize(), end, replies(tok, end, loop))
			cfg.Tokenizer, cfg.Template, cfg.Sandbox, cfg.System = tok, tpl, sb, "Be brief."
			a, err := agent.New(agent.CodeAct, cfg)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := a.Run(context.Background(), agent.Task{Prompt: "Loop."})
			if err != nil {
				t.Fatal(err)
			}
			if (tc.turns >= 0 && len(tr.Turns) != tc.turns) || !strings.Contains(tr.Error, tc.errHas) {
				t.Errorf("%d turns, error %q", len(tr.Turns), tr.Error)
			}
			if seq, err := tr.Sequence(); err == nil && cfg.MaxLen > 0 && len(seq.IDs) > cfg.MaxLen {
				t.Errorf("%d ids within MaxLen %d", len(seq.IDs), cfg.MaxLen)
			}
		})
	}
}

func TestNew_Errors(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	m := newScriptModel(tok.VocabSize(), end, nil)
	tests := []struct {
		name string
		kind agent.Kind
		cfg  agent.Config
	}{
		{name: "no model", kind: agent.CodeAct, cfg: agent.Config{Tokenizer: tok, Template: tpl}},
		{name: "codeact without sandbox", kind: agent.CodeAct, cfg: agent.Config{Model: m, Tokenizer: tok, Template: tpl}},
		{name: "tool calling without tool", kind: agent.ToolCalling, cfg: agent.Config{Model: m, Tokenizer: tok, Template: tpl}},
		{name: "unknown kind", kind: "chat", cfg: agent.Config{Model: m, Tokenizer: tok, Template: tpl}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := agent.New(tc.kind, tc.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestJSONL_RoundTrip(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	tools, specs := calculator(t)
	m := newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{`<tool_call>{"name": "sqrt", "arguments": {"x": 16}}</tool_call>`, "4"}))
	a, err := agent.New(agent.ToolCalling, agent.Config{Model: m, Tokenizer: tok, Template: tpl, Tools: specs, Tool: tools,
		Sampling: generate.Options{MaxNewTokens: 60}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := a.Run(context.Background(), agent.Task{ID: "sqrt", Prompt: "sqrt(16)?"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := agent.WriteJSONL(&buf, tr, tr); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines", n)
	}
	back, err := agent.ReadJSONL(&buf)
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := json.Marshal(tr)
	for _, b := range back {
		b2, _ := json.Marshal(b)
		if !bytes.Equal(a1, b2) {
			t.Fatalf("round trip changed the trace:\n%s\n%s", a1, b2)
		}
	}
	if _, err := agent.ReadJSONL(strings.NewReader("{\"turns\": 3}\n")); err == nil {
		t.Error("a malformed line was accepted")
	}
}

func jsonEqual(a []byte, b string) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// TestBadArgument_SameAnswerBothAthletes: a call whose arguments break the
// tool's schema is answered by the tool's source (here the calculator pack)
// with one error, which the tool-calling athlete reads as its observation
// and the CodeAct athlete's code gets as the tool's error.
func TestBadArgument_SameAnswerBothAthletes(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	tools, specs := calculator(t)
	sampling := generate.Options{Temperature: 1, MaxNewTokens: 100}
	ctx := context.Background()

	tc, err := agent.New(agent.ToolCalling, agent.Config{
		Model: newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{
			`<tool_call>{"name": "sqrt", "arguments": {"x": "four"}}</tool_call>`, "Done.",
		})),
		Tokenizer: tok, Template: tpl, Tools: specs, Tool: tools, Sampling: sampling,
	})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tc.Run(ctx, agent.Task{ID: "bad", Prompt: "sqrt of four?"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Turns) != 2 || len(tr.Turns[0].Observations) != 1 {
		t.Fatalf("tool calling: %d turns, %+v", len(tr.Turns), tr.Turns)
	}
	answer := tr.Turns[0].Observations[0]
	if !answer.IsError || !strings.Contains(answer.Content, `invalid arguments for tool "sqrt"`) || !strings.Contains(answer.Content, "/x") {
		t.Fatalf("tool calling: observation %+v, want the schema's refusal", answer)
	}

	ca, err := agent.New(agent.CodeAct, agent.Config{
		Model: newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{
			"```python\nsqrt(x=\"four\")\n```", "```python\nfinal_answer(0)\n```",
		})),
		Tokenizer: tok, Template: tpl, Sandbox: newSandbox(t, tools, specs), Sampling: sampling,
	})
	if err != nil {
		t.Fatal(err)
	}
	tr, err = ca.Run(ctx, agent.Task{ID: "bad", Prompt: "sqrt of four?"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Turns) != 2 || len(tr.Turns[0].Observations) != 1 {
		t.Fatalf("codeact: %d turns, %+v", len(tr.Turns), tr.Turns)
	}
	o := tr.Turns[0].Observations[0]
	if !o.IsError || !strings.Contains(o.Content, "sqrt: "+answer.Content) {
		t.Errorf("codeact: observation %q, want the tool error %q", o.Content, "sqrt: "+answer.Content)
	}
}

// TestNew_CodeActToolsFromSandbox: a CodeAct agent lists its sandbox's
// tools; a Config.Tools that differs from them is refused.
func TestNew_CodeActToolsFromSandbox(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	tools, specs := calculator(t)
	sb := newSandbox(t, tools, specs)
	m := newScriptModel(tok.VocabSize(), end, nil)
	tests := []struct {
		name    string
		tools   int // how many of specs go in Config.Tools
		wantErr bool
	}{
		{name: "tools from the sandbox", tools: 0},
		{name: "the sandbox's very list", tools: len(specs)},
		{name: "a different list", tools: 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := agent.New(agent.CodeAct, agent.Config{Model: m, Tokenizer: tok, Template: tpl, Sandbox: sb, Tools: specs[:tc.tools]})
			if tc.wantErr {
				if !errors.Is(err, agent.ErrBadConfig) || !strings.Contains(err.Error(), "sandbox") {
					t.Fatalf("err = %v, want ErrBadConfig naming the sandbox", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range specs {
				if !strings.Contains(a.System(), s.Name+"(") {
					t.Errorf("the system prompt lacks %s:\n%s", s.Name, a.System())
				}
			}
		})
	}
}
