package bfcl

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/sdk"
)

// loadAll loads every embedded category.
func loadAll(t *testing.T) []Case {
	t.Helper()
	var all []Case
	for _, cat := range Categories {
		cs, err := Load(Data(), cat)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, cs...)
	}
	return all
}

// TestHeldout: the split is a function of (id, fraction, seed) alone, its
// two sides are disjoint and cover every case, each category is split near
// the fraction, and another seed gives another split.
func TestHeldout(t *testing.T) {
	all := loadAll(t)
	for _, tc := range []struct {
		name     string
		fraction float64
		seed     uint64
	}{
		{"none", 0, 1},
		{"fifth", 0.2, 1},
		{"fifth other seed", 0.2, 2},
		{"half", 0.5, 7},
		{"all", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			perCat := map[string][2]int{}
			held := map[string]bool{}
			for _, c := range all {
				h := Heldout(c.ID, tc.fraction, tc.seed)
				if h != Heldout(c.ID, tc.fraction, tc.seed) {
					t.Fatalf("%s: two answers", c.ID)
				}
				if _, dup := held[c.ID]; dup {
					t.Fatalf("id %s twice in the data", c.ID)
				}
				held[c.ID] = h
				n := perCat[c.Category]
				n[0]++
				if h {
					n[1]++
				}
				perCat[c.Category] = n
			}
			for cat, n := range perCat {
				got := float64(n[1]) / float64(n[0])
				if got < tc.fraction-0.08 || got > tc.fraction+0.08 {
					t.Errorf("%s: %d of %d held out (%.2f), want about %.2f", cat, n[1], n[0], got, tc.fraction)
				}
			}
		})
	}
	moved := 0
	for _, c := range all {
		if Heldout(c.ID, 0.2, 1) != Heldout(c.ID, 0.2, 2) {
			moved++
		}
	}
	if moved < len(all)/10 {
		t.Errorf("seeds 1 and 2 split alike: %d of %d cases change side", moved, len(all))
	}
	// A larger fraction only adds to the held-out side.
	for _, c := range all {
		if Heldout(c.ID, 0.2, 1) && !Heldout(c.ID, 0.3, 1) {
			t.Fatalf("%s is held out at 0.2 but not at 0.3", c.ID)
		}
	}
}

// TestTaskOf_RoundTrip writes every case as a task line, reads it back
// with coach.ReadTasks, and checks that the athlete sees the case's
// functions as its tools and that the checker gives the case and its copy
// the same verdicts on the first possible answer.
func TestTaskOf_RoundTrip(t *testing.T) {
	if MetaFunctions != coach.MetaTools {
		t.Fatalf("MetaFunctions %q is not coach.MetaTools %q", MetaFunctions, coach.MetaTools)
	}
	all := loadAll(t)
	var b strings.Builder
	for _, c := range all {
		line, err := TaskOf(c)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(line)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(raw, '\n'))
	}
	path := filepath.Join(t.TempDir(), "tasks.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tasks, err := coach.ReadTasks(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != len(all) {
		t.Fatalf("%d tasks read, want %d", len(tasks), len(all))
	}
	for i, task := range tasks {
		c := all[i]
		tools, err := coach.DeclaredTools(task)
		if err != nil || len(tools) != len(c.Function) {
			t.Fatalf("%s: declared tools %d, %v; want %d", c.ID, len(tools), err, len(c.Function))
		}
		back, err := CaseOf(task)
		if err != nil {
			t.Fatal(err)
		}
		om, _ := c.Messages()
		bm, err := back.Messages()
		if err != nil || !reflect.DeepEqual(om, bm) {
			t.Fatalf("%s: question %+v from the task, want %+v (%v)", c.ID, bm, om, err)
		}
		calls, err := AnswerCalls(c)
		if err != nil {
			t.Fatal(err)
		}
		vals, bad := callValues(calls)
		if bad {
			t.Fatalf("%s: answer calls do not convert", c.ID)
		}
		want, got := CheckCase(c, vals), CheckCase(back, vals)
		if !want.Valid || want != got {
			t.Fatalf("%s: first possible answer: original %+v, from the task %+v; want both valid", c.ID, want, got)
		}
	}
}

// trace is a one-turn tool-calling trace of a reply in Hermes format,
// parsed as the athlete parses it.
func trace(reply string) sdk.Trace {
	calls, err := agent.ParseToolCalls(agent.FormatHermes, reply)
	turn := sdk.Turn{Completion: reply, ToolCalls: calls}
	if err != nil {
		turn.Error = err.Error()
	}
	return sdk.Trace{Turns: []sdk.Turn{turn}}
}

func TestReward(t *testing.T) {
	task := func(category, id string) *sdk.Task {
		cs, err := Load(Data(), category)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.ID == id {
				line, err := TaskOf(c)
				if err != nil {
					t.Fatal(err)
				}
				return &sdk.Task{ID: line.ID, Prompt: line.Prompt, Metadata: line.Metadata}
			}
		}
		t.Fatalf("no case %s", id)
		return nil
	}
	// simple_python_0: calculate_triangle_area(base=10, height=5, unit="units" or omitted).
	simple := task("simple_python", "simple_python_0")
	irrelevant := task("irrelevance", "irrelevance_0")
	for _, tc := range []struct {
		name       string
		task       *sdk.Task
		trace      sdk.Trace
		want       float64
		unparsable float64
	}{
		{"valid", simple, trace(`<tool_call>{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}</tool_call>`), 1, 0},
		{"valid with optional", simple, trace(`<tool_call>{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5, "unit": "units"}}</tool_call>`), 1, 0},
		{"wrong arg", simple, trace(`<tool_call>{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 6}}</tool_call>`), 0, 0},
		{"float for integer", simple, trace(`<tool_call>{"name": "calculate_triangle_area", "arguments": {"base": 10.0, "height": 5}}</tool_call>`), 0, 0},
		{"wrong name", simple, trace(`<tool_call>{"name": "triangle_area", "arguments": {"base": 10, "height": 5}}</tool_call>`), 0, 0},
		{"no call", simple, trace("The area is 25."), 0, 0},
		{"unparsable", simple, trace(`<tool_call>{"name": "calculate_triangle_area", "arguments": {"base": 10,</tool_call>`), UnparsableScore, 1},
		{"arguments not an object", simple, sdk.Trace{Turns: []sdk.Turn{{ToolCalls: []sdk.ToolCall{{Name: "calculate_triangle_area", Arguments: json.RawMessage(`[10, 5]`)}}}}}, UnparsableScore, 1},
		{"no reply (prompt too long)", simple, sdk.Trace{Error: "prompt of 900 tokens leaves no room"}, 0, 0},
		{"irrelevance, no call", irrelevant, trace("I cannot do that with these tools."), 1, 0},
		{"irrelevance, a call", irrelevant, trace(`<tool_call>{"name": "determine_body_mass_index", "arguments": {"weight": 10.0, "height": 5.0}}</tool_call>`), 0, 0},
		{"irrelevance, unparsable (no call, as BFCL decodes it)", irrelevant, trace(`<tool_call>{"name": </tool_call>`), 1, 1},
		{"irrelevance, no reply", irrelevant, sdk.Trace{}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := Reward{}.Reward(context.Background(), sdk.RewardRequest{Trace: tc.trace, Task: tc.task})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Score != tc.want || resp.Info["unparsable"] != tc.unparsable || resp.Info["valid"] != map[bool]float64{true: 1}[tc.want == 1] {
				t.Errorf("score %v info %v, want %v (unparsable %v)", resp.Score, resp.Info, tc.want, tc.unparsable)
			}
		})
	}
	for _, tc := range []struct {
		name string
		task *sdk.Task
		want string
	}{
		{"no task", nil, "needs the trace's task"},
		{"not a BFCL task", &sdk.Task{ID: "t1", Metadata: map[string]string{"inbox": "x"}}, `task "t1": metadata needs`},
		{"bad functions", &sdk.Task{ID: "t2", Metadata: map[string]string{MetaFunctions: "{", MetaAnswers: "[]", MetaCategory: "simple_python"}}, `"tools" is not a JSON list`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Reward{}.Reward(context.Background(), sdk.RewardRequest{Trace: trace("x"), Task: tc.task})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestSFTExample: for every case, the SFT conversation's prompt is
// exactly what the tool-calling athlete renders for the case's task, and
// its reply parses back into calls the checker accepts (text, no call, for
// irrelevance).
func TestSFTExample(t *testing.T) {
	_, _, tmpl := openBase(t)
	parse := train.MessagesParser(tmpl, chattemplate.Options{})
	for _, format := range []agent.ToolFormat{agent.FormatHermes, agent.FormatLlama3} {
		for _, c := range loadAll(t) {
			ex, err := SFTExample(tmpl, format, c)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(ex)
			if err != nil {
				t.Fatal(err)
			}
			segs, err := parse(raw)
			if err != nil {
				t.Fatalf("%s: %v", c.ID, err)
			}
			tools, _ := c.Tools()
			want, err := tmpl.Render([]chattemplate.Message{
				{Role: "system", Content: agent.ToolCallingSystem(tmpl, format, tools)},
				{Role: "user", Content: ex.Messages[1].Content},
			}, chattemplate.Options{Tools: agent.TemplateTools(tools), AddGenerationPrompt: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) != 2 || segs[0].Text != want {
				t.Fatalf("%s (%s): the SFT prompt differs from the athlete's:\n%q\nwant\n%q", c.ID, format, segs[0].Text, want)
			}
			reply := ex.Messages[2].Content
			if r := CheckCase(c, CallsFromText(format, reply)); !r.Valid {
				t.Fatalf("%s (%s): reply %q is not valid: %+v", c.ID, format, reply, r)
			}
		}
	}
}
