package bfcl

import (
	"context"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/tokenizer"
)

// The email agent's shipped base: a real tokenizer and ChatML template.
const baseModel = "../../plugins/packs/email/base/model"

func TestValue_MarshalJSON(t *testing.T) {
	for _, in := range []string{
		`{"b":1,"a":[2.5,3.0,"x",null,true],"c":{"z":{},"y":[]}}`,
		`[1e+21,-0.5,7]`,
	} {
		v, err := ParseValue([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		out, err := v.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseValue(out)
		if err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		// Kinds (int vs float) and key order survive the round trip.
		again, _ := back.MarshalJSON()
		if string(again) != string(out) || !strings.HasPrefix(string(out), in[:2]) {
			t.Errorf("%s → %s → %s", in, out, again)
		}
		if v.Kind == Object && strings.Join(back.Keys, ",") != "b,a,c" {
			t.Errorf("key order %v", back.Keys)
		}
		if v.Kind == Object && back.M["a"].L[1].Kind != Float {
			t.Errorf("3.0 came back as kind %d, want Float", back.M["a"].L[1].Kind)
		}
	}
}

// openBase opens the shipped base with its tokenizer and chat template.
func openBase(tb testing.TB) (*checkpoint.Checkpoint, *tokenizer.Tokenizer, *chattemplate.Template) {
	tb.Helper()
	ck, err := checkpoint.Open(baseModel, hub.ResolveOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := ck.Tokenizer()
	if err != nil {
		tb.Fatal(err)
	}
	tmpl, err := ck.ChatTemplate()
	if err != nil {
		tb.Fatal(err)
	}
	return ck, tok, tmpl
}

// scripted is a generate.Model whose every row writes the same text,
// whatever its prompt: the model a pipeline test needs.
type scripted struct {
	vocab int
	ids   []int32
}

func (s *scripted) VocabSize() int { return s.vocab }

func (s *scripted) NewCache(_ context.Context, batch, _ int) (generate.Cache, error) {
	return &scriptedCache{s: s, lens: make([]int, batch), prompt: make([]int, batch)}, nil
}

type scriptedCache struct {
	s            *scripted
	lens, prompt []int
}

func (c *scriptedCache) Append(_ context.Context, tokens [][]int32) ([][]float32, error) {
	out := make([][]float32, len(tokens))
	for b, ts := range tokens {
		if len(ts) == 0 {
			continue
		}
		if c.lens[b] == 0 {
			c.prompt[b] = len(ts)
		}
		c.lens[b] += len(ts)
		next := c.lens[b] - c.prompt[b]
		logits := make([]float32, c.s.vocab)
		logits[c.s.ids[min(next, len(c.s.ids)-1)]] = 10
		out[b] = logits
	}
	return out, nil
}

func (c *scriptedCache) Len(b int) int { return c.lens[b] }
func (c *scriptedCache) Close() error  { return nil }

// TestGenerate runs the whole pipeline on a scripted model: each case is
// rendered with its tools through a real chat template, the text is parsed
// by the athletes' parser and checked. The script's call answers
// simple_python_0 and nothing else; a case longer than the context is
// refused unread; the order of cases is kept.
func TestGenerate(t *testing.T) {
	ck, tok, tmpl := openBase(t)
	stops := ck.StopTokenIDs(tok)
	answer := `<tool_call>{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}</tool_call>`
	m := &scripted{vocab: tok.VocabSize(), ids: append(tok.Encode(answer), stops[0])}

	var cases []Case
	for _, cat := range []string{"simple_python", "multiple", "irrelevance"} {
		cs, err := Load(Data(), cat)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, cs[:2]...)
	}
	p, err := Prompt(tok, tmpl, "", cases[0])
	if err != nil {
		t.Fatal(err)
	}
	if text := tok.Decode(p); !strings.Contains(text, `"calculate_triangle_area"`) || !strings.Contains(text, cases[0].Question.L[0].L[0].M["content"].S) {
		t.Fatalf("prompt lacks the tool or the question:\n%s", text)
	}
	var progress []int
	res, err := Generate(context.Background(), m, tok, tmpl, cases, GenerateOptions{
		Batch:    4,
		Sampling: generate.Options{MaxNewTokens: 256, MaxLen: 1024, StopTokenIDs: stops},
		Progress: func(done int) { progress = append(progress, done) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, errType string
		valid       bool
	}{
		{"simple_python_0", "", true},
		{"simple_python_1", "simple_function_checker:wrong_func_name", false},
		{"multiple_0", ErrorPromptTooLong, false}, // 1,271 tokens > 1,024
		{"multiple_1", "simple_function_checker:wrong_func_name", false},
		{"irrelevance_0", "irrelevance_error:decoder_success", false},
		{"irrelevance_1", "irrelevance_error:decoder_success", false},
	}
	if len(res) != len(want) {
		t.Fatalf("%d responses, want %d", len(res), len(want))
	}
	for i, w := range want {
		v := res[i].Verdict
		if v.ID != w.id || v.Valid != w.valid || (w.errType != "" && v.ErrorType != w.errType) {
			t.Errorf("response %d: %+v, want %+v", i, v, w)
		}
	}
	if res[0].Text != answer || len(res[0].Calls) != 1 {
		t.Errorf("text %q, calls %v", res[0].Text, res[0].Calls)
	}
	if len(progress) != 2 || progress[1] != len(cases) {
		t.Errorf("progress %v, want two batches ending at %d", progress, len(cases))
	}
}
