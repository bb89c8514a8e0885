package bfcl

import (
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/agent"
)

func TestLoadEmbedded(t *testing.T) {
	want := map[string]int{"simple_python": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200, "irrelevance": 240}
	for _, cat := range Categories {
		cases, err := Load(Data(), cat)
		if err != nil {
			t.Fatal(err)
		}
		if len(cases) != want[cat] {
			t.Errorf("%s: %d cases, want %d", cat, len(cases), want[cat])
		}
		for _, c := range cases {
			if cat != "irrelevance" && len(c.Answers) == 0 {
				t.Fatalf("%s: no possible answer", c.ID)
			}
		}
	}
	if _, err := Load(Data(), "nope"); err == nil {
		t.Error("unknown category loaded without error")
	}
}

func TestScoreResponses(t *testing.T) {
	cases := map[string]Case{}
	for _, cat := range []string{"simple_python", "irrelevance"} {
		cs, err := Load(Data(), cat)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			cases[c.ID] = c
		}
	}
	in := strings.Join([]string{
		`{"id": "simple_python_0", "calls": [{"calculate_triangle_area": {"base": 10, "height": 5}}]}`,
		`{"id": "simple_python_0", "calls": [{"calculate_triangle_area": {"base": 10.0, "height": 5}}]}`,
		`{"id": "simple_python_0", "text": "<tool_call>{\"name\": \"calculate_triangle_area\", \"arguments\": {\"base\": 10, \"height\": 5, \"unit\": \"units\"}}</tool_call>"}`,
		`{"id": "irrelevance_0", "text": "I cannot help with that."}`,
		`{"id": "irrelevance_0", "calls": [{"f": {}}]}`,
	}, "\n")
	got, err := ScoreResponses(strings.NewReader(in), cases, agent.FormatHermes)
	if err != nil {
		t.Fatal(err)
	}
	want := []Verdict{
		{"simple_python_0", true, ""},
		{"simple_python_0", false, "type_error:simple"},
		{"simple_python_0", true, ""},
		{"irrelevance_0", true, ""},
		{"irrelevance_0", false, "irrelevance_error:decoder_success"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d verdicts, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("verdict %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	s := Summarize(got)
	if s.Overall.Correct != 3 || s.Overall.Total != 5 || len(s.Categories) != 2 {
		t.Errorf("summary = %+v, want 3/5 over 2 categories", s)
	}
	for _, bad := range []string{`{"id": "nope", "calls": []}`, `{"id": "simple_python_0"}`, `{`} {
		if _, err := ScoreResponses(strings.NewReader(bad), cases, agent.FormatHermes); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
