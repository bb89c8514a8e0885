package taskgen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/taskgen"
	"github.com/toolbrain/toolbrain/sdk"
)

// calc is a small real tool set: add two numbers, look up a capital.
type calc struct{ calls int }

var calcSpecs = []sdk.ToolSpec{
	{Name: "add", Description: "Add two numbers.", Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer","minimum":0,"maximum":50},"b":{"type":"integer","minimum":0,"maximum":50}},"required":["a","b"],"additionalProperties":false}`)},
	{Name: "capital", Description: "The capital of a country.", Parameters: json.RawMessage(`{"type":"object","properties":{"country":{"enum":["france","italy","spain"]}},"required":["country"]}`)},
	{Name: "fail", Description: "Always fails.", Parameters: json.RawMessage(`{"type":"object"}`)},
}

var capitals = map[string]string{"france": "Paris", "italy": "Rome", "spain": "Madrid"}

func (c *calc) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	c.calls++
	switch req.Name {
	case "add":
		var a struct{ A, B int }
		if err := json.Unmarshal(req.Arguments, &a); err != nil {
			return sdk.ToolCallResponse{Content: err.Error(), IsError: true}, nil
		}
		return sdk.ToolCallResponse{Content: fmt.Sprint(a.A + a.B)}, nil
	case "capital":
		var a struct{ Country string }
		_ = json.Unmarshal(req.Arguments, &a)
		return sdk.ToolCallResponse{Content: "The capital is " + capitals[a.Country] + "."}, nil
	case "fail":
		return sdk.ToolCallResponse{Content: "failed on purpose", IsError: true}, nil
	}
	return sdk.ToolCallResponse{}, fmt.Errorf("no tool %q", req.Name)
}

// fixed proposes the same candidates every round.
type fixed []taskgen.Candidate

func (f fixed) Generate(context.Context, taskgen.Request) ([]taskgen.Candidate, error) {
	return append([]taskgen.Candidate(nil), f...), nil
}

func call(name, args string) []taskgen.Call {
	return []taskgen.Call{{Name: name, Arguments: json.RawMessage(args)}}
}

var good = taskgen.Candidate{Question: "What is the sum of 2 and 3 when added together?", Answer: "5", Calls: call("add", `{"a":2,"b":3}`), Difficulty: taskgen.Easy}

func TestRun_Checks(t *testing.T) {
	tests := []struct {
		name   string
		cand   taskgen.Candidate
		reason taskgen.Reason // "" = kept
	}{
		{"good", taskgen.Candidate{Question: "What is 7 plus 8?", Answer: "15", Calls: call("add", `{"a":7,"b":8}`), Difficulty: taskgen.Hard}, ""},
		{"same words, other numbers", taskgen.Candidate{Question: "What is 2 plus 4?", Answer: "6", Calls: call("add", `{"a":2,"b":4}`), Difficulty: taskgen.Easy}, ""},
		{"answer in a sentence", taskgen.Candidate{Question: "What is the capital of Italy?", Answer: "rome", Calls: call("capital", `{"country":"italy"}`), Difficulty: taskgen.Medium}, ""},
		{"bad arguments", taskgen.Candidate{Question: "What is 2 plus x?", Answer: "5", Calls: call("add", `{"a":2,"b":"x"}`), Difficulty: taskgen.Easy}, taskgen.ReasonSchema},
		{"argument out of range", taskgen.Candidate{Question: "What is 2 plus 99?", Answer: "101", Calls: call("add", `{"a":2,"b":99}`), Difficulty: taskgen.Easy}, taskgen.ReasonSchema},
		{"missing argument", taskgen.Candidate{Question: "What is 2 plus?", Answer: "2", Calls: call("add", `{"a":2}`), Difficulty: taskgen.Easy}, taskgen.ReasonSchema},
		{"no calls", taskgen.Candidate{Question: "What is 2 plus 3?", Answer: "5", Difficulty: taskgen.Easy}, taskgen.ReasonSchema},
		{"empty answer", taskgen.Candidate{Question: "What is 2 plus 3?", Calls: call("add", `{"a":2,"b":3}`), Difficulty: taskgen.Easy}, taskgen.ReasonSchema},
		{"bad difficulty", taskgen.Candidate{Question: "What is 2 plus 3?", Answer: "5", Calls: call("add", `{"a":2,"b":3}`), Difficulty: "trivial"}, taskgen.ReasonSchema},
		{"reserved metadata", taskgen.Candidate{Question: "What is 2 plus 3?", Answer: "5", Calls: call("add", `{"a":2,"b":3}`), Difficulty: taskgen.Easy, Metadata: map[string]string{"calls": "x"}}, taskgen.ReasonSchema},
		{"unknown tool", taskgen.Candidate{Question: "What is 2 times 3?", Answer: "6", Calls: call("mul", `{"a":2,"b":3}`), Difficulty: taskgen.Easy}, taskgen.ReasonUnknownTool},
		{"duplicate", taskgen.Candidate{Question: "  what is the SUM of 2 and 3, when added together ", Answer: "5", Calls: call("add", `{"a":2,"b":3}`), Difficulty: taskgen.Easy}, taskgen.ReasonDuplicate},
		{"near duplicate", taskgen.Candidate{Question: "So what is the sum of 2 and 3 when added together?", Answer: "5", Calls: call("add", `{"a":2,"b":3}`), Difficulty: taskgen.Easy}, taskgen.ReasonNearDuplicate},
		{"same question, other world", taskgen.Candidate{Question: good.Question, Answer: "5", Calls: call("add", `{"a":2,"b":3}`), Difficulty: taskgen.Easy, Metadata: map[string]string{"world": "2"}}, ""},
		{"wrong answer", taskgen.Candidate{Question: "What is 4 plus 4?", Answer: "9", Calls: call("add", `{"a":4,"b":4}`), Difficulty: taskgen.Easy}, taskgen.ReasonUnanswerable},
		{"answer only inside a word", taskgen.Candidate{Question: "What is 10 plus 3?", Answer: "3", Calls: call("add", `{"a":10,"b":3}`), Difficulty: taskgen.Easy}, taskgen.ReasonUnanswerable},
		{"tool error", taskgen.Candidate{Question: "Does fail work?", Answer: "failed on purpose", Calls: call("fail", `{}`), Difficulty: taskgen.Easy}, taskgen.ReasonUnanswerable},
		{"answer in an earlier call only", taskgen.Candidate{Question: "What is 1 plus 1, then the capital of Spain?", Answer: "2",
			Calls: append(call("add", `{"a":1,"b":1}`), call("capital", `{"country":"spain"}`)...), Difficulty: taskgen.Hard}, taskgen.ReasonUnanswerable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The good task is kept first, so that the duplicate cases have
			// something to duplicate.
			gen := fixed{good, tt.cand}
			res, err := taskgen.Run(context.Background(), taskgen.Options{Generator: gen, Specs: calcSpecs, Tools: &calc{}, N: 2, MaxRounds: 1})
			if err != nil {
				t.Fatal(err)
			}
			s := res.Summary
			if s.Proposed != 2 || s.Rounds != 1 {
				t.Fatalf("summary %+v", s)
			}
			if tt.reason == "" {
				if len(res.Tasks) != 2 || len(s.Rejected) != 0 {
					t.Fatalf("want kept, got %s %+v", s, s.Examples)
				}
				return
			}
			if len(res.Tasks) != 1 || s.Rejected[tt.reason] != 1 || len(s.Rejected) != 1 {
				t.Fatalf("want rejected as %s, got %s %+v", tt.reason, s, s.Examples)
			}
			if len(s.Examples) != 1 || s.Examples[0].Reason != tt.reason || s.Examples[0].Detail == "" {
				t.Fatalf("examples %+v", s.Examples)
			}
		})
	}
}

// TestRun_DuplicateOptions checks the near-duplicate threshold and the
// metadata scope of the duplicate checks.
func TestRun_DuplicateOptions(t *testing.T) {
	near := taskgen.Candidate{Question: "So what is the sum of 2 and 3 when added together?", Answer: "5", Calls: call("add", `{"a":2,"b":3}`), Difficulty: taskgen.Easy}
	a, b := good, good
	a.Metadata = map[string]string{"inbox": "ib00", "message_ids": "m1"}
	b.Metadata = map[string]string{"inbox": "ib00", "message_ids": "m2"}
	for _, tt := range []struct {
		name      string
		gen       fixed
		threshold float64
		scope     []string
		kept      int
	}{
		{"threshold default 0.85", fixed{good, near}, 0, nil, 1},
		{"threshold 0.5", fixed{good, near}, 0.5, nil, 1},
		{"threshold 0.95", fixed{good, near}, 0.95, nil, 2},
		{"threshold off", fixed{good, near}, 2, nil, 2},
		{"scope every key", fixed{a, b}, 0, nil, 2},
		{"scope inbox", fixed{a, b}, 0, []string{"inbox"}, 1},
		{"scope global", fixed{a, b}, 0, []string{}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := taskgen.Run(context.Background(), taskgen.Options{Generator: tt.gen, Specs: calcSpecs, Tools: &calc{}, N: 2, MaxRounds: 1, NearDuplicate: tt.threshold, Scope: tt.scope})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Tasks) != tt.kept {
				t.Fatalf("kept %d, want %d: %s", len(res.Tasks), tt.kept, res.Summary)
			}
		})
	}
}

func TestRun_Errors(t *testing.T) {
	gen := fixed{good}
	tests := []struct {
		name string
		o    taskgen.Options
		want string
	}{
		{"no generator", taskgen.Options{Specs: calcSpecs, Tools: &calc{}, N: 1}, "Generator"},
		{"no tools", taskgen.Options{Generator: gen, Tools: &calc{}, N: 1}, "Specs"},
		{"no runner", taskgen.Options{Generator: gen, Specs: calcSpecs, N: 1}, "Tools"},
		{"n", taskgen.Options{Generator: gen, Specs: calcSpecs, Tools: &calc{}}, "N is 0"},
		{"threshold", taskgen.Options{Generator: gen, Specs: calcSpecs, Tools: &calc{}, N: 1, NearDuplicate: -1}, "NearDuplicate"},
		{"bad schema", taskgen.Options{Generator: gen, Specs: []sdk.ToolSpec{{Name: "x", Parameters: json.RawMessage(`{"type":"nonsense"}`)}}, Tools: &calc{}, N: 1}, "invalid schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := taskgen.Run(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestRun_Cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := taskgen.Run(ctx, taskgen.Options{Generator: fixed{good}, Specs: calcSpecs, Tools: &calc{}, N: 1})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("err %v", err)
	}
}

func TestScripted_EndToEnd(t *testing.T) {
	tools := &calc{}
	gen := &taskgen.Scripted{Tools: tools}
	res, err := taskgen.Run(context.Background(), taskgen.Options{Generator: gen, Specs: calcSpecs, Tools: tools, N: 12, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tasks) != 12 {
		t.Fatalf("kept %d of 12: %s %+v", len(res.Tasks), res.Summary, res.Summary.Examples)
	}
	for _, task := range res.Tasks {
		if len(task.Calls) != 1 || task.Calls[0].Name == "fail" || task.Difficulty != taskgen.Easy {
			t.Fatalf("task %+v", task)
		}
		// The gold answer is the real tool's output for the calls.
		resp, _ := (&calc{}).CallTool(context.Background(), sdk.ToolCallRequest{Name: task.Calls[0].Name, Arguments: task.Calls[0].Arguments})
		if resp.Content != task.Expected {
			t.Fatalf("task %s: expected %q, the tool says %q", task.ID, task.Expected, resp.Content)
		}
		if !strings.Contains(task.Prompt, task.Calls[0].Name) {
			t.Fatalf("prompt %q does not name the tool", task.Prompt)
		}
	}
	// Same seed, same tasks.
	again, err := taskgen.Run(context.Background(), taskgen.Options{Generator: &taskgen.Scripted{Tools: tools}, Specs: calcSpecs, Tools: tools, N: 12, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	for i := range res.Tasks {
		if res.Tasks[i].Prompt != again.Tasks[i].Prompt {
			t.Fatalf("seed 7 gave %q then %q", res.Tasks[i].Prompt, again.Tasks[i].Prompt)
		}
	}
}

func TestScripted_SampleWords(t *testing.T) {
	specs := []sdk.ToolSpec{{Name: "echo", Parameters: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string","maxLength":8}},"required":["text"]}`)}}
	tool := sdk.Tool(echo{})
	res, err := taskgen.Run(context.Background(), taskgen.Options{
		Generator: &taskgen.Scripted{Tools: tool}, Specs: specs, Tools: tool, N: 2, Sample: "zebra quokka", NearDuplicate: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range res.Tasks {
		if task.Expected != "echo: zebra" && task.Expected != "echo: quokka" {
			t.Fatalf("task %+v: want a word of the sample", task)
		}
	}
	if len(res.Tasks) != 2 {
		t.Fatalf("kept %d: %s", len(res.Tasks), res.Summary)
	}
}

type echo struct{}

func (echo) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	var a struct{ Text string }
	_ = json.Unmarshal(req.Arguments, &a)
	return sdk.ToolCallResponse{Content: "echo: " + a.Text}, nil
}

func TestWriteTasks_CoachReads(t *testing.T) {
	res, err := taskgen.Run(context.Background(), taskgen.Options{Generator: fixed{good}, Specs: calcSpecs, Tools: &calc{}, N: 1, IDPrefix: "calc"})
	if err != nil {
		t.Fatal(err)
	}
	res.Tasks[0].Metadata = map[string]string{"inbox": "ib00"}
	path := filepath.Join(t.TempDir(), "sub", "tasks.jsonl")
	if err := taskgen.WriteTasks(path, res.Tasks); err != nil {
		t.Fatal(err)
	}
	got, err := coach.ReadTasks(path)
	if err != nil {
		t.Fatal(err)
	}
	want := res.Tasks[0].SDK()
	if len(got) != 1 || got[0].ID != "calc-0001" || got[0].Prompt != want.Prompt || got[0].Expected != "5" {
		t.Fatalf("read back %+v", got)
	}
	for k, v := range want.Metadata {
		if got[0].Metadata[k] != v {
			t.Fatalf("metadata %q = %q, want %q", k, got[0].Metadata[k], v)
		}
	}
	var calls []taskgen.Call
	if err := json.Unmarshal([]byte(got[0].Metadata["calls"]), &calls); err != nil || len(calls) != 1 || calls[0].Name != "add" {
		t.Fatalf("calls %q: %v", got[0].Metadata["calls"], err)
	}
}

func TestAnswerIn(t *testing.T) {
	tests := []struct {
		name, answer, output string
		want                 bool
	}{
		{"exact", "Paris", "Paris", true},
		{"in a sentence, case", "paris", "The capital is Paris.", true},
		{"spaces", "3 pm", "at 3   pm today", true},
		{"inside a word", "par", "Paris", false},
		{"inside a number", "3", "13", false},
		{"number form", "3", "sum: 3.0", true},
		{"email address", "bob@acme.com", "from: bob@acme.com", true},
		{"absent", "Rome", "Paris", false},
		{"negative", "-6", "result: -6", true},
		{"sign lost", "-6", "result: 6", false},
		{"sign added", "6", "result: -6", false},
		{"range is not a sign", "6", "pages 4-6", true},
		{"empty answer", "", "anything", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := taskgen.AnswerIn(tt.answer, tt.output); got != tt.want {
				t.Fatalf("AnswerIn(%q, %q) = %v", tt.answer, tt.output, got)
			}
		})
	}
}

func TestSummary_String(t *testing.T) {
	s := taskgen.Summary{Requested: 3, Proposed: 5, Kept: 3, Rounds: 2, Rejected: map[taskgen.Reason]int{taskgen.ReasonUnanswerable: 1, taskgen.ReasonDuplicate: 1}}
	want := "kept 3 of 5 proposed (wanted 3) in 2 rounds; rejected: duplicate 1, unanswerable 1"
	if got := s.String(); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestReadSample(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"b.txt": "second file", "a.jsonl": `{"x": 1}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big.txt")
	if err := os.WriteFile(big, []byte(strings.Repeat("word ", taskgen.MaxSampleBytes)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
		wantLen          int
	}{
		{"directory, files in name order", dir, "== a.jsonl ==\n{\"x\": 1}\n== b.txt ==\nsecond file\n", 0},
		{"one file", filepath.Join(dir, "b.txt"), "second file\n", 0},
		{"cut at the cap", big, "", taskgen.MaxSampleBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := taskgen.ReadSample(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if tt.wantLen != 0 && len(got) > tt.wantLen+1 {
				t.Fatalf("%d bytes, want at most %d", len(got), tt.wantLen+1)
			}
		})
	}
	if _, err := taskgen.ReadSample(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err %v", err)
	}
}

func TestRun_RoundLimit(t *testing.T) {
	var many fixed
	for range 1000 {
		many = append(many, good)
	}
	tools := &calc{}
	res, err := taskgen.Run(context.Background(), taskgen.Options{Generator: many, Specs: calcSpecs, Tools: tools, N: 1, MaxRounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	// One kept, then the run stops: N is reached.
	if res.Summary.Kept != 1 || res.Summary.Proposed != 20 || res.Summary.Unchecked != 19 || tools.calls != 1 {
		t.Fatalf("summary %s (%d proposed), %d tool calls", res.Summary, res.Summary.Proposed, tools.calls)
	}
	res, err = taskgen.Run(context.Background(), taskgen.Options{Generator: many, Specs: calcSpecs, Tools: tools, N: 2, MaxRounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Proposed != 24 || res.Summary.Rejected[taskgen.ReasonDuplicate] != 23 {
		t.Fatalf("summary %s (%d proposed)", res.Summary, res.Summary.Proposed)
	}
}
