package reward_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
	"github.com/toolbrain/toolbrain/plugins/packs/email/reward"
	"github.com/toolbrain/toolbrain/sdk"
	"github.com/toolbrain/toolbrain/sdk/plugintest"
)

// trace builds a trace of n turns whose first turn reads the messages
// given, ending with answer.
func trace(n int, answer string, read ...string) sdk.Trace {
	tr := sdk.Trace{FinalAnswer: answer}
	for i := range n {
		var t sdk.Turn
		if i == 0 {
			t.ToolCalls = append(t.ToolCalls, sdk.ToolCall{Name: "search_emails", Arguments: json.RawMessage(`{"keywords":["orion"]}`)})
			for _, id := range read {
				t.ToolCalls = append(t.ToolCalls, sdk.ToolCall{Name: "read_email", Arguments: json.RawMessage(`{"message_id":"` + id + `"}`)})
			}
		}
		tr.Turns = append(tr.Turns, t)
	}
	return tr
}

// failing marks turn i of tr as failed (its code raised).
func failing(tr sdk.Trace, i int) sdk.Trace {
	tr.Turns[i].Error = "NameError: undefined: serch_emails"
	return tr
}

// refused makes the last turn's observation a tool's refusal.
func refused(tr sdk.Trace) sdk.Trace {
	last := &tr.Turns[len(tr.Turns)-1]
	last.Observations = append(last.Observations, sdk.Observation{Name: "read_email", Content: "no message m999", IsError: true})
	return tr
}

// artE is ART·E's reward: a formatting error scores -2.
var artE = reward.Reward{Broken: -2}

var task = &sdk.Task{ID: "ib00-q01", Prompt: "When is the orion meeting?", Expected: "3pm",
	Metadata: map[string]string{"inbox": "ib00", "message_ids": "ib00-m003,ib00-m009"}}

type rewardCase struct {
	name     string
	r        reward.Reward
	expected string
	trace    sdk.Trace
	task     *sdk.Task
	want     float64
}

// request is the case's request: expected "" means "3pm", "-" means none.
func (c rewardCase) request() sdk.RewardRequest {
	tk := task
	if c.task != nil {
		tk = c.task
	}
	exp := c.expected
	switch exp {
	case "":
		exp = "3pm"
	case "-":
		exp = ""
	}
	return sdk.RewardRequest{Expected: exp, Trace: c.trace, Task: tk}
}

var rewardCases = []rewardCase{
	{name: "correct, 2 turns, cited", trace: trace(2, "3pm", "ib00-m009"), want: 1 + 0.1*4/5 + 0.1},
	{name: "correct, normalised", trace: trace(2, ` "3PM." `, "ib00-m003"), want: 1.18},
	{name: "correct, not cited", trace: trace(2, "3pm", "ib00-m001"), want: 1.08},
	{name: "correct in one turn", trace: trace(1, "3pm"), want: 1.1},
	{name: "correct at the turn limit", trace: trace(6, "3pm", "ib00-m003"), want: 1.1},
	{name: "correct past the limit gets no negative bonus", trace: trace(9, "3pm"), want: 1},
	{name: "wrong", trace: trace(2, "4pm"), want: -1},
	{name: "wrong but cited", trace: trace(2, "4pm", "ib00-m003"), want: -0.9},
	{name: "no answer", trace: trace(6, ""), want: 0},
	{name: "i don't know", trace: trace(3, "I don't know"), want: 0},
	{name: "no answer, cited", trace: trace(6, "", "ib00-m009"), want: 0.1},
	{name: "expected from the task", expected: "-", trace: trace(2, "3pm"), want: 1.08},
	{name: "no task: no citation", trace: trace(2, "3pm", "ib00-m003"), task: &sdk.Task{}, expected: "3pm", want: 1.08},
	{name: "configured", r: reward.Reward{Wrong: -0.5, CiteBonus: 0.2, MaxTurns: 3}, trace: trace(2, "4pm", "ib00-m003"), want: -0.3},
	{name: "configured bonus", r: reward.Reward{MaxTurns: 3, TurnBonus: 0.2}, trace: trace(2, "3pm"), want: 1.1},
	{name: "broken, off by default: as no answer", trace: failing(trace(3, ""), 1), want: 0},
	{name: "broken: no answer, code failed", r: artE, trace: failing(trace(3, ""), 1), want: -2},
	{name: "broken: no answer, a tool refused a call", r: artE, trace: refused(trace(2, "")), want: -2},
	{name: "broken but cited", r: artE, trace: failing(trace(3, "", "ib00-m003"), 2), want: -1.9},
	{name: "failed, then answered right", r: artE, trace: failing(trace(2, "3pm"), 0), want: 1.08},
	{name: "failed, then answered wrong", r: artE, trace: failing(trace(2, "4pm"), 0), want: -1},
	{name: "failed, then said it does not know", r: artE, trace: failing(trace(3, "I don't know"), 1), want: 0},
	{name: "no answer without a failure is not broken", r: artE, trace: trace(3, ""), want: 0},
}

func TestReward(t *testing.T) {
	for _, tt := range rewardCases {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.r.Reward(context.Background(), tt.request())
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(resp.Score-tt.want) > 1e-9 {
				t.Errorf("score %v, want %v (info %v)", resp.Score, tt.want, resp.Info)
			}
		})
	}
}

func TestFromConfig(t *testing.T) {
	r, err := reward.FromConfig(map[string]string{"wrong": "-2", "max_turns": "4", "cite_bonus": "0.05", "broken": "-3"})
	if err != nil || r != (reward.Reward{Wrong: -2, MaxTurns: 4, CiteBonus: 0.05, Broken: -3}) {
		t.Fatalf("got %+v, %v", r, err)
	}
	for _, bad := range []map[string]string{{"wrong": "x"}, {"broken": "Inf"}, {"turn_bonus": "NaN"}, {"max_turns": "1"}, {"max_turns": "2.5"}} {
		if _, err := reward.FromConfig(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// TestReward_Conformance checks the reward against the SDK's contract.
func TestReward_Conformance(t *testing.T) {
	plugintest.TestReward(t, reward.Reward{})
}

// TestMetadataKeys keeps the reward reading what the corpus writes.
func TestMetadataKeys(t *testing.T) {
	tk := corpus.Task{ID: "q", Answer: "3pm", MessageIDs: []string{"a", "b"}}.SDK()
	if tk.Metadata[reward.MetadataMessageIDs] != "a,b" || tk.Expected != "3pm" {
		t.Errorf("corpus task as sdk.Task: %+v", tk)
	}
}
