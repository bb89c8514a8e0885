package chattemplate

import (
	"errors"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/internal/heapwatch"
)

// hostileTemplates are chat templates that would hang the process or build
// gigabytes without the render budget. Each must fail with ErrBudget (or,
// for what cannot even be rendered under a budget, ErrSyntax) quickly and
// with bounded memory. They are also seeds of FuzzRender.
var hostileTemplates = []struct {
	name, src string
	want      error
}{
	{"nested range loops", "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}{% endfor %}{% endfor %}{% endfor %}", ErrBudget},
	{"string repeat", "{{ 'x' * 1000000000 }}", ErrBudget},
	{"string repeat in set", "{% set s = 'ab' * 600000000 %}{{ s|length }}", ErrBudget},
	{"doubling concat", "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}", ErrBudget},
	{"doubling tilde", "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", ErrBudget},
	{"doubling list", "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", ErrBudget},
	{"center filter", "{{ 'x'|center(1000000000) }}", ErrBudget},
	{"indent filter", "{{ ('\\n' * 100000)|indent(100000) }}", ErrBudget},
	{"ljust method", "{{ 'x'.ljust(1000000000) }}", ErrBudget},
	{"format width", "{{ '{:>1000000000}'.format(1) }}", ErrBudget},
	{"replace blow-up", "{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(12) %}{% set ns.s = ns.s.replace('x', ns.s) %}{% endfor %}", ErrBudget},
	{"join blow-up", "{% set s = 'x' * 1000000 %}{{ s.join(range(100000)) }}", ErrBudget},
	{"loops inside a macro", "{% macro m() %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{% endmacro %}{{ m() }}", ErrBudget},
	{"operators inside a caller block", "{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{% endcall %}", ErrBudget},
	{"loops inside a filter block", "{% filter upper %}{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}{% endfilter %}", ErrBudget},
	{"macro fan-out", "{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}", ErrBudget},
	{"captured loop text", "{% set x %}{% for i in range(100000) %}{% for j in range(100000) %}yyyyyyyy{% endfor %}{% endfor %}{% endset %}", ErrBudget},
	{"output cap", "{% set s = 'x' * 1000000 %}{% for i in range(100000) %}{{ s }}{% endfor %}", ErrBudget},
	{"range churn", "{% for i in range(100000) %}{% set r = range(100000) %}{% endfor %}", ErrBudget},
	{"tojson string indent", "{% set ns = namespace(l=[1]) %}{% for i in range(150) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l|tojson(indent='x' * 100000) }}", ErrBudget},
	{"tojson deep indent", "{% set ns = namespace(l=[]) %}{% for i in range(190) %}{% set ns.l = [ns.l] + range(500)|list %}{% endfor %}{{ ns.l|tojson(indent=64) }}", ErrBudget},
	{"tojson huge separator", "{{ range(100000)|list|tojson(separators=['x' * 1000000, ':']) }}", ErrBudget},
	{"batch padding", "{{ [1]|batch(8000000, 'x')|list|length }}", ErrBudget},
	{"lipsum", "{{ lipsum(1000000000) }}", ErrRender},
	{"recursive loop", "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", ErrSyntax},
}

// renderBound is the time a hostile render may take before it fails, with
// slack for a loaded machine; the budget stops them in well under a second.
const renderBound = 5 * time.Second

// heapBound caps how far the live heap may grow during one hostile render:
// twice MaxRenderAlloc (garbage waits for the collector), never the
// gigabytes the templates ask for.
const heapBound = 2 * MaxRenderAlloc

func TestRender_HostileTemplates(t *testing.T) {
	msgs := []Message{{Role: "user", Content: "hi"}}
	for _, tc := range hostileTemplates {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			start := time.Now()
			grew := heapwatch.Growth(func() {
				var tpl *Template
				if tpl, err = New(tc.src); err == nil {
					_, err = tpl.Render(msgs, Options{})
				}
			})
			elapsed := time.Since(start)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if elapsed > renderBound {
				t.Errorf("took %v, bound %v", elapsed, renderBound)
			}
			if grew > heapBound {
				t.Errorf("heap grew by %d MiB, bound %d MiB", grew>>20, heapBound>>20)
			}
		})
	}
}

// TestRender_BudgetKeepsSemantics: the rewritten operators give what the
// engine's did.
func TestRender_BudgetKeepsSemantics(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"string concat", "{{ 'a' + 'b' }}", "ab"},
		{"tilde", "{{ 1 ~ 'b' }}", "1b"},
		{"int add", "{{ 1 + 2 }}", "3"},
		{"float add", "{{ 1 + 0.5 }}", "1.5"},
		{"int mul", "{{ 3 * 4 }}", "12"},
		{"repeat", "{{ 'ab' * 3 }}", "ababab"},
		{"repeat zero", "{{ 'ab' * 0 }}", ""},
		{"list concat", "{{ ([1] + [2, 3])|length }}", "3"},
		{"loop", "{% for m in messages %}{{ m.role }}{% endfor %}", "user"},
		{"join", "{{ ', '.join(['a', 'b']) }}|{{ ['a', 'b']|join('-') }}", "a, b|a-b"},
		{"format", "{{ '{}-{}'.format(1, 2) }}", "1-2"},
		{"set block", "{% set x %}{% for i in range(3) %}y{% endfor %}{% endset %}{{ x }}", "yyy"},
		{"batch", "{{ [1, 2, 3]|batch(2, 0)|list|length }}", "2"},
		{"tojson indent", "{{ [1, [2]]|tojson(indent=1) }}", "[\n 1,\n [\n  2\n ]\n]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := New(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Render([]Message{{Role: "user", Content: "hi"}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
