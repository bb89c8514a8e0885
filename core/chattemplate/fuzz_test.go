package chattemplate

import (
	"errors"
	"testing"
	"time"
)

// FuzzRender feeds random template sources to New and Render: either may
// fail, with one of the package's errors, but neither may panic or hang.
func FuzzRender(f *testing.F) {
	features, _ := loadOwnReference(f)
	for _, src := range features {
		f.Add(src)
	}
	for _, p := range []string{qwen3Cfg, llama3Cfg} {
		f.Add(mustLoad(f, p).Source())
	}
	for _, s := range []string{
		"{% if x %}", "{{ messages[::-1]|tojson(indent=2) }}", "{% for m in messages %}{{ loop.index }}{% endfor %}",
		"{%- raw -%}{{ x }}{% endraw %}", "{{ '{%' ~ \"%}\" }}", "{# unterminated", "{{ {'a': [1, {'b': none}]}|tojson }}",
		"{% set ns = namespace(a=1) %}{% set ns.a = ns.a + 1 %}{{ ns.a }}", "{{ messages[0].content.split()[0].strip('x') }}",
	} {
		f.Add(s)
	}
	for _, h := range hostileTemplates {
		f.Add(h.src)
	}
	msgs := benchConversation()[:4]
	f.Fuzz(func(t *testing.T, src string) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > renderBound {
				t.Errorf("New and Render took %v, bound %v", d, renderBound)
			}
		}()
		tpl, err := New(src)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("New error %v is not ErrSyntax", err)
			}
			return
		}
		_, err = tpl.Render(msgs, Options{AddGenerationPrompt: true, Tools: []any{map[string]any{"type": "function"}}})
		if err != nil && !errors.Is(err, ErrRender) && !errors.Is(err, ErrRaised) && !errors.Is(err, ErrBudget) {
			t.Fatalf("Render error %v is not ErrRender, ErrRaised or ErrBudget", err)
		}
	})
}
