package chattemplate

import (
	"encoding/json"
	"strings"
	"testing"
)

// BenchmarkRender renders a 10-message tool-using conversation with a parsed
// (warm) template.
func BenchmarkRender(b *testing.B) {
	tools := []any{json.RawMessage(`{"type": "function", "function": {"name": "search_emails", "description": "Search the inbox.", "parameters": {"type": "object", "properties": {"keywords": {"type": "array", "items": {"type": "string"}}, "limit": {"type": "integer"}}, "required": ["keywords"]}}}`)}
	for _, c := range []struct{ name, path string }{{"qwen3", qwen3Cfg}, {"llama3", llama3Cfg}} {
		b.Run(c.name, func(b *testing.B) {
			tpl := mustLoad(b, c.path)
			msgs := benchConversation()
			opts := Options{Tools: tools, AddGenerationPrompt: true}
			out, err := tpl.Render(msgs, opts)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(out)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tpl.Render(msgs, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNew parses the Qwen3 template (done once per checkpoint).
func BenchmarkNew(b *testing.B) {
	src := mustLoad(b, qwen3Cfg).Source()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkToJSON measures the tojson filter on a tool schema.
func BenchmarkToJSON(b *testing.B) {
	v, err := decodeOrdered([]byte(`{"type": "function", "function": {"name": "search_emails", "description": "Search the inbox — fast.", "parameters": {"type": "object", "properties": {"keywords": {"type": "array", "items": {"type": "string"}}, "limit": {"type": "integer", "default": 10}, "score": {"type": "number", "minimum": 0.5}}, "required": ["keywords"]}}}`))
	if err != nil {
		b.Fatal(err)
	}
	o := jsonOptions{itemSep: ", ", keySep: ": "}
	b.ReportAllocs()
	for b.Loop() {
		var sb strings.Builder
		if err := pyJSON(&sb, v, &o, 0); err != nil {
			b.Fatal(err)
		}
	}
}
