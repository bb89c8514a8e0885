// Package plugintest checks that a plugin keeps ToolBrain's plugin contract,
// the way testing/slogtest checks a slog.Handler. Plugin authors call it from
// their own tests, on a Go implementation or on a plugin loaded by the
// runtime:
//
//	func TestMyReward(t *testing.T) {
//		plugintest.TestReward(t, myReward{}, plugintest.RewardCase{
//			Name: "exact", Request: sdk.RewardRequest{Expected: "4", Trace: sdk.Trace{FinalAnswer: "4"}}, Want: 1,
//		})
//	}
//
// Every check runs as a subtest named after what it checks. The contract:
// outputs encode to JSON that the host decodes and accepts (finite scores,
// one per trace, shapes that match the request), the same request gives the
// same answer, concurrent calls give the same answers as sequential ones
// (plugins are called from many goroutines), invalid input is answered with
// an error (for a tool: an error or a response with IsError set) and never a
// panic.
//
// The package imports only sdk and the standard library.
package plugintest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/toolbrain/toolbrain/sdk"
)

// Concurrency is how many goroutines the concurrency checks use.
const Concurrency = 8

// protect runs f and turns a panic into an error: the contract forbids
// panics, and a test should report one rather than crash.
func protect[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plugintest: plugin panicked: %v", r)
		}
	}()
	return f()
}

// roundTrip encodes v as the plugin would on the wire and decodes it as the
// host does, so that what passes here also passes through the runtime.
func roundTrip(v, into any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("response does not encode to JSON: %w", err)
	}
	return sdk.DecodeResponse(b, into)
}

// concurrently runs call(i) for every i in 0..n-1 from Concurrency
// goroutines, each goroutine covering all i.
func concurrently(n int, call func(i int)) {
	var wg sync.WaitGroup
	for g := 0; g < Concurrency; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < n; k++ {
				call((k + g) % n)
			}
		}()
	}
	wg.Wait()
}

// ---- rewards ----

// RewardCase is a request with its expected score.
type RewardCase struct {
	// Name names the case in the test's output.
	Name string
	// Request is what the reward is called with.
	Request sdk.RewardRequest
	// Want is the expected score, compared within 1e-9.
	Want float64
}

// RewardRequests are the requests TestReward sends to every reward: empty,
// matching, differing, Unicode and spacing, long answers, traces with tool
// calls and errors, with and without a task.
func RewardRequests() []sdk.RewardRequest {
	long := strings.Repeat("word ", 8192)
	turns := []sdk.Turn{{
		Completion: "search(q='x')", Code: "search(q='x')",
		ToolCalls:    []sdk.ToolCall{{ID: "c1", Name: "search", Arguments: json.RawMessage(`{"q":"x"}`)}},
		Observations: []sdk.Observation{{ToolCallID: "c1", Name: "search", Content: "no hits", IsError: true}},
		Tokens:       &sdk.TokenSpans{PromptIDs: []int32{1, 2}, GeneratedIDs: []int32{3, 4, 5}, Logprobs: []float32{-0.1, -0.2, -0.3}},
	}, {Completion: "final_answer('42')"}}
	task := &sdk.Task{ID: "t1", Prompt: "What is 6*7?", Expected: "42", Metadata: map[string]string{"split": "test"}}
	return []sdk.RewardRequest{
		{},
		{Expected: "42", Trace: sdk.Trace{FinalAnswer: "42"}},
		{Expected: "42", Trace: sdk.Trace{FinalAnswer: "43"}},
		{Expected: "", Trace: sdk.Trace{FinalAnswer: "something"}},
		{Expected: "Ünïcödé 答案", Trace: sdk.Trace{FinalAnswer: "  ünïcödé 答案 \n"}},
		{Expected: "the cat sat", Trace: sdk.Trace{FinalAnswer: "The cat, sat!"}},
		{Expected: long, Trace: sdk.Trace{FinalAnswer: long + "more"}},
		{Expected: "42", Trace: sdk.Trace{FinalAnswer: "42", Turns: turns}, Task: task},
		{Expected: "42", Trace: sdk.Trace{Turns: turns, Error: "max turns reached"}, Task: task},
		{Expected: "\x00\xff", Trace: sdk.Trace{FinalAnswer: "\"quoted\" \\ \t"}},
	}
}

// TestReward checks r against the contract with [RewardRequests] and the
// given cases. When r also implements sdk.GroupReward, the group function is
// checked too.
func TestReward(t *testing.T, r sdk.Reward, cases ...RewardCase) {
	t.Helper()
	ctx := context.Background()
	reqs := RewardRequests()
	for _, c := range cases {
		reqs = append(reqs, c.Request)
	}
	call := func(req sdk.RewardRequest) (sdk.RewardResponse, error) {
		return protect(func() (sdk.RewardResponse, error) { return r.Reward(ctx, req) })
	}
	first := make([]sdk.RewardResponse, len(reqs))
	t.Run("valid_output", func(t *testing.T) {
		for i, req := range reqs {
			resp, err := call(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				continue
			}
			var back sdk.RewardResponse
			if err := roundTrip(resp, &back); err != nil {
				t.Errorf("request %d: %v", i, err)
				continue
			}
			if err := back.Validate(); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			for k, v := range resp.Info {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("request %d: info %q is %v", i, k, v)
				}
			}
			first[i] = resp
		}
	})
	t.Run("cases", func(t *testing.T) {
		for _, c := range cases {
			resp, err := call(c.Request)
			if err != nil {
				t.Errorf("%s: %v", c.Name, err)
			} else if math.Abs(resp.Score-c.Want) > 1e-9 {
				t.Errorf("%s: score %v, want %v", c.Name, resp.Score, c.Want)
			}
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		for i, req := range reqs {
			resp, err := call(req)
			if err == nil && resp.Score != first[i].Score && !math.IsNaN(resp.Score) {
				t.Errorf("request %d: score %v, then %v", i, first[i].Score, resp.Score)
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var mu sync.Mutex
		concurrently(len(reqs), func(i int) {
			resp, err := call(reqs[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			} else if resp.Score != first[i].Score {
				t.Errorf("request %d: concurrent score %v, sequential %v", i, resp.Score, first[i].Score)
			}
		})
	})
	t.Run("cancelled_context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		resp, err := protect(func() (sdk.RewardResponse, error) { return r.Reward(cctx, reqs[1]) })
		if err == nil {
			if verr := resp.Validate(); verr != nil {
				t.Errorf("with a cancelled context: %v", verr)
			}
		} else if strings.Contains(err.Error(), "panicked") {
			t.Error(err)
		}
	})
	g, ok := r.(sdk.GroupReward)
	if !ok {
		return
	}
	t.Run("group", func(t *testing.T) {
		for _, n := range []int{0, 1, len(reqs)} {
			req := sdk.RewardGroupRequest{Expected: "42"}
			for _, rr := range reqs[:n] {
				req.Traces = append(req.Traces, rr.Trace)
			}
			resp, err := protect(func() (sdk.RewardGroupResponse, error) { return g.RewardGroup(ctx, req) })
			if err != nil {
				t.Errorf("group of %d: %v", n, err)
				continue
			}
			var back sdk.RewardGroupResponse
			if err := roundTrip(resp, &back); err != nil {
				t.Errorf("group of %d: %v", n, err)
			} else if err := back.Validate(n); err != nil {
				t.Errorf("group of %d: %v", n, err)
			}
		}
	})
}

// ---- tools ----

// ToolCase is a tool call with what it should give.
type ToolCase struct {
	// Name names the case in the test's output.
	Name string
	// Request is what the tool is called with.
	Request sdk.ToolCallRequest
	// WantContent, when not empty, must equal the response's Content.
	WantContent string
	// WantError means the call must fail: an error, or IsError set.
	WantError bool
}

var toolNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// TestTool checks tool against the contract and its specs: the specs are
// well formed; the cases give what they say; every response encodes to
// JSON with valid UTF-8 content and JSON data; a call to an unknown tool,
// arguments that are not JSON or not an object, missing required
// properties and values of the wrong type are answered with an error or
// IsError; the same call gives the same response, also when calls run
// concurrently.
func TestTool(t *testing.T, tool sdk.Tool, specs []sdk.ToolSpec, cases ...ToolCase) {
	t.Helper()
	ctx := context.Background()
	call := func(req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
		return protect(func() (sdk.ToolCallResponse, error) { return tool.CallTool(ctx, req) })
	}
	failed := func(resp sdk.ToolCallResponse, err error) bool {
		return (err != nil && !strings.Contains(err.Error(), "panicked")) || (err == nil && resp.IsError)
	}
	parsed := make([]objectSchema, len(specs))
	t.Run("specs", func(t *testing.T) {
		if len(specs) == 0 {
			t.Fatal("no tool specs")
		}
		seen := map[string]bool{}
		for i, s := range specs {
			if !toolNameRe.MatchString(s.Name) {
				t.Errorf("spec %d: name %q is not 1-64 of A-Z a-z 0-9 _ -", i, s.Name)
			}
			if seen[s.Name] {
				t.Errorf("spec %d: name %q repeats", i, s.Name)
			}
			seen[s.Name] = true
			if strings.TrimSpace(s.Description) == "" {
				t.Errorf("tool %q: no description", s.Name)
			}
			if len(s.Parameters) > 0 {
				if err := json.Unmarshal(s.Parameters, &parsed[i]); err != nil {
					t.Errorf("tool %q: parameters are not a JSON object: %v", s.Name, err)
				} else if parsed[i].Type != nil && !parsed[i].Type.has("object") {
					t.Errorf("tool %q: parameters schema type is %v, want object", s.Name, parsed[i].Type)
				}
			}
		}
	})
	var valid []ToolCase
	first := map[int]sdk.ToolCallResponse{}
	t.Run("cases", func(t *testing.T) {
		for i, c := range cases {
			resp, err := call(c.Request)
			switch {
			case c.WantError && !failed(resp, err):
				t.Errorf("%s: got %+v, %v; want an error", c.Name, resp, err)
			case !c.WantError && err != nil:
				t.Errorf("%s: %v", c.Name, err)
			case !c.WantError && resp.IsError:
				t.Errorf("%s: is_error with %q", c.Name, resp.Content)
			case c.WantContent != "" && resp.Content != c.WantContent:
				t.Errorf("%s: content %q, want %q", c.Name, resp.Content, c.WantContent)
			}
			if err == nil {
				checkToolResponse(t, c.Name, resp)
			}
			if !c.WantError && err == nil {
				first[i] = resp
				valid = append(valid, c)
			}
		}
	})
	t.Run("invalid_input", func(t *testing.T) {
		bad := []ToolCase{{Name: "unknown tool", Request: sdk.ToolCallRequest{Name: "no_such_tool_plugintest", Arguments: json.RawMessage(`{}`)}}}
		for i, s := range specs {
			bad = append(bad,
				ToolCase{Name: s.Name + ": arguments not an object", Request: sdk.ToolCallRequest{Name: s.Name, Arguments: json.RawMessage(`[1,"x"]`)}},
				ToolCase{Name: s.Name + ": arguments a string", Request: sdk.ToolCallRequest{Name: s.Name, Arguments: json.RawMessage(`"x"`)}})
			if len(parsed[i].Required) > 0 {
				bad = append(bad, ToolCase{Name: s.Name + ": required missing", Request: sdk.ToolCallRequest{Name: s.Name, Arguments: json.RawMessage(`{}`)}})
			}
			base := map[string]json.RawMessage{}
			for _, c := range valid {
				if c.Request.Name == s.Name {
					_ = json.Unmarshal(c.Request.Arguments, &base)
					break
				}
			}
			for prop, ps := range parsed[i].Properties {
				if ps.Type == nil || ps.Type.has("object") {
					continue
				}
				args := map[string]json.RawMessage{}
				for k, v := range base {
					args[k] = v
				}
				// An object is the wrong type for every scalar or array.
				args[prop] = json.RawMessage(`{"plugintest":"wrong type"}`)
				b, _ := json.Marshal(args)
				bad = append(bad, ToolCase{Name: s.Name + ": wrong type for " + prop, Request: sdk.ToolCallRequest{Name: s.Name, Arguments: b}})
			}
		}
		for _, c := range bad {
			resp, err := call(c.Request)
			if !failed(resp, err) {
				t.Errorf("%s (%s): got %+v, %v; want an error or is_error", c.Name, c.Request.Arguments, resp, err)
			}
		}
	})
	t.Run("deterministic_and_concurrent", func(t *testing.T) {
		if len(valid) == 0 {
			t.Skip("no valid cases given")
		}
		idx := make([]int, 0, len(first))
		for i := range cases {
			if _, ok := first[i]; ok {
				idx = append(idx, i)
			}
		}
		var mu sync.Mutex
		concurrently(len(idx), func(k int) {
			i := idx[k]
			resp, err := call(cases[i].Request)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s: %v", cases[i].Name, err)
			} else if !reflect.DeepEqual(resp, first[i]) {
				t.Errorf("%s: concurrent response %+v, sequential %+v", cases[i].Name, resp, first[i])
			}
		})
	})
}

func checkToolResponse(t *testing.T, name string, resp sdk.ToolCallResponse) {
	t.Helper()
	if !utf8.ValidString(resp.Content) {
		t.Errorf("%s: content is not valid UTF-8", name)
	}
	if len(resp.Data) > 0 && !json.Valid(resp.Data) {
		t.Errorf("%s: data is not JSON: %q", name, resp.Data)
	}
	var back sdk.ToolCallResponse
	if err := roundTrip(resp, &back); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

// objectSchema is the part of a JSON Schema the tool checks read.
type objectSchema struct {
	Type       *schemaType             `json:"type"`
	Required   []string                `json:"required"`
	Properties map[string]objectSchema `json:"properties"`
}

// schemaType is a JSON Schema "type": one name or a list.
type schemaType []string

func (s *schemaType) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = schemaType{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

func (s *schemaType) has(name string) bool {
	for _, x := range *s {
		if x == name {
			return true
		}
	}
	return false
}

// ---- algorithms and judges ----

// AdvantageRequests are the requests TestAlgorithm sends: one group, a
// group of equal rewards (zero variance), several groups of different
// sizes, a group of one, and zero-length traces.
func AdvantageRequests() []sdk.AdvantageRequest {
	return []sdk.AdvantageRequest{
		{Groups: []sdk.Group{{Rewards: []float64{1, 0}, Lengths: []int{5, 9}}}},
		{Groups: []sdk.Group{{Rewards: []float64{1, 1, 1, 1}, Lengths: []int{3, 3, 3, 3}}}},
		{Groups: []sdk.Group{
			{Rewards: []float64{0.5, 0.25, 1, 0}, Lengths: []int{10, 20, 5, 40}},
			{Rewards: []float64{-1, 2}, Lengths: []int{1, 2}},
			{Rewards: []float64{3}, Lengths: []int{7}},
		}},
		{Groups: []sdk.Group{{Rewards: []float64{1e6, -1e6, 0}, Lengths: []int{0, 0, 1}}}},
	}
}

// TestAlgorithm checks a: responses match their requests' shapes with
// finite values, the same batch gives the same advantages (also
// concurrently), and a malformed request (rewards and lengths of different
// sizes, a NaN reward) is an error.
func TestAlgorithm(t *testing.T, a sdk.Algorithm) {
	t.Helper()
	ctx := context.Background()
	reqs := AdvantageRequests()
	call := func(req sdk.AdvantageRequest) (sdk.AdvantageResponse, error) {
		return protect(func() (sdk.AdvantageResponse, error) { return a.Advantages(ctx, req) })
	}
	first := make([]sdk.AdvantageResponse, len(reqs))
	t.Run("valid_output", func(t *testing.T) {
		for i, req := range reqs {
			resp, err := call(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				continue
			}
			var back sdk.AdvantageResponse
			if err := roundTrip(resp, &back); err != nil {
				t.Errorf("request %d: %v", i, err)
			} else if err := back.Validate(req); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			first[i] = resp
		}
	})
	t.Run("deterministic_and_concurrent", func(t *testing.T) {
		var mu sync.Mutex
		concurrently(len(reqs), func(i int) {
			resp, err := call(reqs[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			} else if !reflect.DeepEqual(resp, first[i]) {
				t.Errorf("request %d: %+v, first %+v", i, resp, first[i])
			}
		})
	})
	t.Run("invalid_input", func(t *testing.T) {
		for _, req := range []sdk.AdvantageRequest{
			{Groups: []sdk.Group{{Rewards: []float64{1, 0}, Lengths: []int{5}}}},
			{Groups: []sdk.Group{{Rewards: []float64{math.NaN(), 0}, Lengths: []int{5, 5}}}},
		} {
			if _, err := call(req); err == nil {
				t.Errorf("%+v: no error", req)
			}
		}
	})
}

// TestJudge checks j: for groups of one, two and five traces its response
// holds one finite score per trace or a permutation as ranking, and calls
// from many goroutines all succeed. Judges may be non-deterministic (an LLM
// judge samples), so answers are not compared.
func TestJudge(t *testing.T, j sdk.Judge) {
	t.Helper()
	ctx := context.Background()
	var traces []sdk.Trace
	for _, r := range RewardRequests()[1:6] {
		traces = append(traces, r.Trace)
	}
	reqs := []sdk.JudgeRequest{
		{Expected: "42", Traces: traces[:1]},
		{Expected: "42", Traces: traces[:2], Rubric: "prefer correct answers"},
		{Expected: "42", Traces: traces, Task: &sdk.Task{Prompt: "What is 6*7?"}},
	}
	check := func(req sdk.JudgeRequest) error {
		resp, err := protect(func() (sdk.JudgeResponse, error) { return j.Judge(ctx, req) })
		if err != nil {
			return err
		}
		var back sdk.JudgeResponse
		if err := roundTrip(resp, &back); err != nil {
			return err
		}
		return back.Validate(len(req.Traces))
	}
	t.Run("valid_output", func(t *testing.T) {
		for i, req := range reqs {
			if err := check(req); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var mu sync.Mutex
		concurrently(len(reqs), func(i int) {
			if err := check(reqs[i]); err != nil {
				mu.Lock()
				t.Errorf("request %d: %v", i, err)
				mu.Unlock()
			}
		})
	})
}
