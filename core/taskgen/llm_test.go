package taskgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/core/taskgen"
	"github.com/toolbrain/toolbrain/sdk"
)

func TestParseCandidates(t *testing.T) {
	const task = `{"question": "What is 2 plus 3?", "answer": "5", "calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}], "difficulty": "Easy"}`
	tests := []struct {
		name  string
		reply string
		n     int
	}{
		{"bare array", "[" + task + "]", 1},
		{"code fence", "Here you go:\n```json\n[" + task + "," + task + "]\n```\nEnjoy.", 2},
		{"trailing text", "[" + task + "] I hope these help [1].", 1},
		{"prose with brackets first", "Tasks [as asked]:\n[" + task + "]", 1},
		{"tasks object", `{"tasks": [` + task + `]}`, 1},
		{"empty array", "[]", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := taskgen.ParseCandidates(tt.reply)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.n {
				t.Fatalf("got %d candidates, want %d", len(got), tt.n)
			}
			for _, c := range got {
				if c.Question != "What is 2 plus 3?" || c.Answer != "5" || c.Difficulty != "easy" || len(c.Calls) != 1 || c.Calls[0].Name != "add" {
					t.Fatalf("candidate %+v", c)
				}
				var args map[string]int
				if err := json.Unmarshal(c.Calls[0].Arguments, &args); err != nil || args["a"] != 2 {
					t.Fatalf("arguments %s: %v", c.Calls[0].Arguments, err)
				}
			}
		})
	}
}

func TestParseCandidates_Lenient(t *testing.T) {
	got, err := taskgen.ParseCandidates(`[{"question": "q", "answer": 42, "calls": [{"name": "add", "arguments": "{\"a\": 1}"}], "difficulty": "hard", "metadata": {"inbox": "ib00", "n": 3}}, 7]`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %+v", got)
	}
	c := got[0]
	if c.Answer != "42" || string(c.Calls[0].Arguments) != `{"a": 1}` || c.Metadata["inbox"] != "ib00" || c.Metadata["n"] != "3" {
		t.Fatalf("candidate %+v", c)
	}
	if got[1].Question != "" {
		t.Fatalf("a non-object item should be an empty candidate, got %+v", got[1])
	}
}

func TestParseCandidates_Errors(t *testing.T) {
	for _, reply := range []string{"", "I cannot help with that.", "[1, 2, 3]", `{"question": "q"}`, "[{\"question\": "} {
		if got, err := taskgen.ParseCandidates(reply); err == nil {
			t.Errorf("ParseCandidates(%q) = %+v, want an error", reply, got)
		}
	}
}

// openAI is a loopback server speaking the chat-completions API: it
// answers each request with the next of its replies and records the
// requests.
type openAI struct {
	mu       sync.Mutex
	replies  []string
	requests []map[string]any
}

func (o *openAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	o.requests = append(o.requests, req)
	reply := "no more replies"
	if len(o.replies) > 0 {
		reply, o.replies = o.replies[0], o.replies[1:]
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "x", "object": "chat.completion", "model": req["model"],
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": reply}}},
	})
}

func endpoint(t *testing.T, o *openAI) sdk.LLM {
	t.Helper()
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	e, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: srv.URL + "/v1", Model: "gen-model", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLLM_EndToEnd(t *testing.T) {
	// First reply unparsable (retried), then a fenced array with one good
	// task, one duplicate, one wrong answer, one unknown tool and one bad
	// argument.
	o := &openAI{replies: []string{
		"Sure! Let me think about some tasks.",
		"```json\n[" +
			`{"question": "What is the capital of France?", "answer": "Paris", "calls": [{"name": "capital", "arguments": {"country": "france"}}], "difficulty": "easy"},` +
			`{"question": "what is the capital of france", "answer": "Paris", "calls": [{"name": "capital", "arguments": {"country": "france"}}], "difficulty": "easy"},` +
			`{"question": "What is 20 plus 22?", "answer": "43", "calls": [{"name": "add", "arguments": {"a": 20, "b": 22}}], "difficulty": "easy"},` +
			`{"question": "What is 6 times 7?", "answer": "42", "calls": [{"name": "multiply", "arguments": {"a": 6, "b": 7}}], "difficulty": "medium"},` +
			`{"question": "What is the capital of Peru?", "answer": "Lima", "calls": [{"name": "capital", "arguments": {"country": "peru"}}], "difficulty": "medium"}` +
			"]\n```",
		`[{"question": "What is 20 plus 22?", "answer": "42", "calls": [{"name": "add", "arguments": "{\"a\": 20, \"b\": 22}"}], "difficulty": "medium"}]`,
	}}
	gen := &taskgen.LLM{Client: endpoint(t, o), Batch: 5}
	res, err := taskgen.Run(context.Background(), taskgen.Options{Generator: gen, Specs: calcSpecs, Tools: &calc{}, N: 2, Sample: "Countries: france, italy, spain."})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if len(res.Tasks) != 2 || res.Tasks[0].Expected != "Paris" || res.Tasks[1].Expected != "42" {
		t.Fatalf("tasks %+v, summary %s", res.Tasks, s)
	}
	want := map[taskgen.Reason]int{taskgen.ReasonDuplicate: 1, taskgen.ReasonUnanswerable: 1, taskgen.ReasonUnknownTool: 1, taskgen.ReasonSchema: 1}
	for r, n := range want {
		if s.Rejected[r] != n {
			t.Errorf("rejected %s: %d, want %d (%s)", r, s.Rejected[r], n, s)
		}
	}
	if s.Rounds != 2 || s.Proposed != 6 || s.Unchecked != 0 {
		t.Errorf("summary %s", s)
	}
	if len(o.requests) != 3 {
		t.Fatalf("%d requests, want 3 (a retry, then two rounds)", len(o.requests))
	}
	// The prompt shows the tools, their schemas and the sample; the retry
	// says what was wrong; the second round lists the kept question.
	first := prompt(o.requests[0])
	for _, want := range []string{"capital", `"enum":["france","italy","spain"]`, "Countries: france", "JSON array"} {
		if !strings.Contains(first, want) {
			t.Errorf("prompt lacks %q:\n%s", want, first)
		}
	}
	if retry := prompt(o.requests[1]); !strings.Contains(retry, "could not be read") {
		t.Errorf("retry prompt %q", retry)
	}
	if third := o.requests[2]; !strings.Contains(firstUser(third), "What is the capital of France?") || o.requests[2]["model"] != "gen-model" {
		t.Errorf("second round does not list the kept question: %v", third)
	}
}

func TestLLM_Unparsable(t *testing.T) {
	o := &openAI{replies: []string{"no", "still no", "never"}}
	_, err := (&taskgen.LLM{Client: endpoint(t, o), Attempts: 3}).Generate(context.Background(), taskgen.Request{Tools: calcSpecs, N: 1})
	if !errors.Is(err, taskgen.ErrUnparsable) || len(o.requests) != 3 {
		t.Fatalf("err %v after %d requests", err, len(o.requests))
	}
	// Run counts the round and goes on to the next.
	o = &openAI{}
	res, err := taskgen.Run(context.Background(), taskgen.Options{Generator: &taskgen.LLM{Client: endpoint(t, o), Attempts: 1}, Specs: calcSpecs, Tools: &calc{}, N: 1, MaxRounds: 2})
	if err != nil || res.Summary.Unparsable != 2 || len(res.Tasks) != 0 {
		t.Fatalf("summary %s, err %v", res.Summary, err)
	}
}

func TestLLM_EndpointError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error": {"message": "bad key"}}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	e, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: srv.URL, Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = taskgen.Run(context.Background(), taskgen.Options{Generator: &taskgen.LLM{Client: e}, Specs: calcSpecs, Tools: &calc{}, N: 1})
	if !errors.Is(err, llm.ErrStatus) {
		t.Fatalf("err %v, want the endpoint's status error", err)
	}
}

// prompt is the last user message of a recorded request.
func prompt(req map[string]any) string {
	msgs := req["messages"].([]any)
	return msgs[len(msgs)-1].(map[string]any)["content"].(string)
}

// firstUser is the first user message of a recorded request.
func firstUser(req map[string]any) string {
	for _, m := range req["messages"].([]any) {
		if m := m.(map[string]any); m["role"] == "user" {
			return m["content"].(string)
		}
	}
	return ""
}

func TestParseCandidates_Brackets(t *testing.T) {
	// A reply of a million brackets: an error, quickly (each place it
	// tries reads to the end).
	if _, err := taskgen.ParseCandidates(strings.Repeat("[", 1<<20)); err == nil {
		t.Fatal("want an error")
	}
}
