package sdk

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name, host, plugin string
		want               error
		mention            []string
	}{
		{name: "same", host: "1.0", plugin: "1.0"},
		{name: "older minor", host: "1.3", plugin: "1.1"},
		{name: "bare major", host: "1.2", plugin: "1"},
		{name: "newer minor", host: "1.0", plugin: "1.1", want: ErrIncompatibleVersion, mention: []string{"1.0", "1.1", "upgrade"}},
		{name: "other major", host: "1.4", plugin: "2.0", want: ErrIncompatibleVersion, mention: []string{"1.4", "2.0", "rebuild"}},
		{name: "older major", host: "2.0", plugin: "1.9", want: ErrIncompatibleVersion, mention: []string{"2.0", "1.9"}},
		{name: "garbage", host: "1.0", plugin: "v1", want: ErrBadVersion},
		{name: "signed", host: "1.0", plugin: "+1.0", want: ErrBadVersion},
		{name: "empty", host: "1.0", plugin: "", want: ErrBadVersion},
		{name: "bad host", host: "x", plugin: "1.0", want: ErrBadVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Negotiate(tt.host, tt.plugin)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Negotiate(%q, %q) = %v, want %v", tt.host, tt.plugin, err, tt.want)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

// The documented wire names are the contract: a field renamed here breaks
// every plugin in every language, so the golden encoding is spelled out.
func TestJSONEncoding(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{
			name: "reward request",
			v: RewardRequest{Expected: "42", Trace: Trace{FinalAnswer: "42", Turns: []Turn{{
				Completion: "c", ToolCalls: []ToolCall{{ID: "1", Name: "add", Arguments: json.RawMessage(`{"a":1}`)}},
				Observations: []Observation{{ToolCallID: "1", Content: "2"}},
				Tokens:       &TokenSpans{PromptIDs: []int32{1}, GeneratedIDs: []int32{2}, Logprobs: []float32{-0.5}},
			}}}},
			want: `{"expected":"42","trace":{"final_answer":"42","turns":[{"completion":"c","tool_calls":[{"id":"1","name":"add","arguments":{"a":1}}],"observations":[{"tool_call_id":"1","content":"2"}],"tokens":{"prompt_ids":[1],"generated_ids":[2],"logprobs":[-0.5]},"timings":{}}],"timings":{}}}`,
		},
		{name: "reward response", v: RewardResponse{Score: 0.5, Info: map[string]float64{"f1": 0.5}}, want: `{"score":0.5,"info":{"f1":0.5}}`},
		{name: "group response", v: RewardGroupResponse{Scores: []float64{1, 0}}, want: `{"scores":[1,0]}`},
		{name: "judge response", v: JudgeResponse{Ranking: []int{1, 0}}, want: `{"ranking":[1,0]}`},
		{name: "advantage request", v: AdvantageRequest{Groups: []Group{{Rewards: []float64{1, 0}, Lengths: []int{3, 4}}}}, want: `{"groups":[{"rewards":[1,0],"lengths":[3,4]}]}`},
		{name: "pairs", v: AdvantageResponse{Pairs: []PreferencePair{{Group: 0, Chosen: 1, Rejected: 0}}}, want: `{"pairs":[{"group":0,"chosen":1,"rejected":0}]}`},
		{name: "tool call", v: ToolCallRequest{Name: "add", Arguments: json.RawMessage(`{"a":1}`)}, want: `{"name":"add","arguments":{"a":1}}`},
		{name: "tool result", v: ToolCallResponse{Content: "x", IsError: true}, want: `{"content":"x","is_error":true}`},
		{name: "llm", v: LLMRequest{Messages: []Message{{Role: "user", Content: "hi"}}, MaxTokens: 3}, want: `{"messages":[{"role":"user","content":"hi"}],"max_tokens":3}`},
		{name: "tool spec", v: ToolSpec{Name: "n", Description: "d", Parameters: json.RawMessage(`{"type":"object"}`)}, want: `{"name":"n","description":"d","parameters":{"type":"object"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("encoding\n got %s\nwant %s", got, tt.want)
			}
			back := reflect.New(reflect.TypeOf(tt.v))
			if err := json.Unmarshal(got, back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), tt.v) {
				t.Fatalf("round trip changed the value: %+v", back.Elem().Interface())
			}
		})
	}
}

func TestTrace_Sequence(t *testing.T) {
	tr := Trace{Turns: []Turn{
		{Tokens: &TokenSpans{PromptIDs: []int32{1, 2}, GeneratedIDs: []int32{3, 4}, Logprobs: []float32{-1, -2}, ObservationIDs: []int32{5}}},
		{Tokens: &TokenSpans{PromptIDs: []int32{6}, GeneratedIDs: []int32{7}, Logprobs: []float32{-3}}},
	}}
	s, err := tr.Sequence()
	if err != nil {
		t.Fatal(err)
	}
	want := Sequence{
		IDs:       []int32{1, 2, 3, 4, 5, 6, 7},
		Mask:      []uint8{0, 0, 1, 1, 0, 0, 1},
		Logprobs:  []float32{0, 0, -1, -2, 0, 0, -3},
		Generated: 3,
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Sequence = %+v, want %+v", s, want)
	}
	if g := tr.GeneratedTokens(); g != 3 {
		t.Fatalf("GeneratedTokens = %d", g)
	}
}

func TestTrace_Sequence_Errors(t *testing.T) {
	tests := []struct {
		name string
		tr   Trace
	}{
		{name: "no tokens", tr: Trace{Turns: []Turn{{Completion: "x"}}}},
		{name: "logprob count", tr: Trace{Turns: []Turn{{Tokens: &TokenSpans{GeneratedIDs: []int32{1, 2}, Logprobs: []float32{0}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.tr.Sequence(); !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	req := AdvantageRequest{Groups: []Group{{Rewards: []float64{1, 0, 0.5}, Lengths: []int{2, 1, 0}}}}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{name: "reward ok", err: RewardResponse{Score: 1}.Validate()},
		{name: "reward nan", err: RewardResponse{Score: math.NaN()}.Validate(), want: ErrInvalidScore},
		{name: "reward inf", err: RewardResponse{Score: math.Inf(-1)}.Validate(), want: ErrInvalidScore},
		{name: "group count", err: RewardGroupResponse{Scores: []float64{1}}.Validate(2), want: ErrInvalidResponse},
		{name: "judge empty", err: JudgeResponse{}.Validate(2), want: ErrInvalidResponse},
		{name: "judge ranking ok", err: JudgeResponse{Ranking: []int{1, 0}}.Validate(2)},
		{name: "judge ranking dup", err: JudgeResponse{Ranking: []int{1, 1}}.Validate(2), want: ErrInvalidResponse},
		{name: "judge ranking range", err: JudgeResponse{Ranking: []int{2, 0}}.Validate(2), want: ErrInvalidResponse},
		{name: "adv ok", err: AdvantageResponse{Advantages: [][]float64{{1, -1, 0}}}.Validate(req)},
		{name: "adv short", err: AdvantageResponse{Advantages: [][]float64{{1, -1}}}.Validate(req), want: ErrInvalidResponse},
		{name: "adv nan", err: AdvantageResponse{Advantages: [][]float64{{1, math.NaN(), 0}}}.Validate(req), want: ErrInvalidScore},
		{name: "token adv ok", err: AdvantageResponse{TokenAdvantages: [][][]float64{{{1, 1}, {2}, {}}}}.Validate(req)},
		{name: "token adv len", err: AdvantageResponse{TokenAdvantages: [][][]float64{{{1}, {2}, {}}}}.Validate(req), want: ErrInvalidResponse},
		{name: "pair self", err: AdvantageResponse{Pairs: []PreferencePair{{Chosen: 1, Rejected: 1}}}.Validate(req), want: ErrInvalidResponse},
		{name: "pair group", err: AdvantageResponse{Pairs: []PreferencePair{{Group: 1, Chosen: 0, Rejected: 1}}}.Validate(req), want: ErrInvalidResponse},
		{name: "request lengths", err: AdvantageRequest{Groups: []Group{{Rewards: []float64{1}}}}.Validate(), want: ErrInvalidRequest},
		{name: "request nan", err: AdvantageRequest{Groups: []Group{{Rewards: []float64{math.NaN()}, Lengths: []int{1}}}}.Validate(), want: ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.want == nil) != (tt.err == nil) || !errors.Is(tt.err, tt.want) {
				t.Fatalf("err = %v, want %v", tt.err, tt.want)
			}
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{name: "ok", in: `{"score":0.25,"extra":true}`},
		{name: "nan", in: `{"score":NaN}`, want: ErrInvalidScore},
		{name: "inf", in: `{"score":-Infinity}`, want: ErrInvalidScore},
		{name: "nan in string is fine but object broken", in: `{"score":"NaN"`, want: ErrInvalidResponse},
		{name: "garbage", in: `not json`, want: ErrInvalidResponse},
		{name: "empty", in: ``, want: ErrInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r RewardResponse
			err := DecodeResponse([]byte(tt.in), &r)
			if (tt.want == nil) != (err == nil) || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestKind_Function(t *testing.T) {
	for _, k := range []Kind{KindTool, KindReward, KindJudge, KindAlgorithm, KindInterpreter} {
		if !k.Valid() {
			t.Errorf("%s not valid", k)
		}
	}
	if Kind("nope").Valid() {
		t.Error("unknown kind valid")
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0", "1", "2.13", "", ".", "1.", "01.2", "1.2.3", "+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		maj, min, err := ParseVersion(s)
		if err != nil {
			if !errors.Is(err, ErrBadVersion) {
				t.Fatalf("error %v is not ErrBadVersion", err)
			}
			return
		}
		if maj < 0 || min < 0 {
			t.Fatalf("negative version %d.%d from %q", maj, min, s)
		}
		if Negotiate(s, s) != nil {
			t.Fatalf("a version must be compatible with itself: %q", s)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{`{"score":1}`, `{"score":NaN}`, `{"scores":[1,2]}`, `"x"`, `{"score":"\"NaN"}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r RewardResponse
		err := DecodeResponse(data, &r)
		if err != nil && !errors.Is(err, ErrInvalidResponse) && !errors.Is(err, ErrInvalidScore) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		var g RewardGroupRequest
		_ = DecodeResponse(data, &g)
		for i := range g.Traces {
			_, _ = g.Traces[i].Sequence()
		}
	})
}

func TestToolSpec_ParameterNames(t *testing.T) {
	tests := []struct {
		name, params string
		want         []string
	}{
		{name: "schema order, not sorted", params: `{"type": "object", "properties": {"op": {}, "b": {"type": "number"}, "a": {"type": "number"}}}`, want: []string{"op", "b", "a"}},
		{name: "no properties", params: `{"type": "object"}`},
		{name: "not JSON", params: `{`},
		{name: "properties not an object", params: `{"properties": [1]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ToolSpec{Parameters: json.RawMessage(tt.params)}.ParameterNames()
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("ParameterNames() = %q, want %q", got, tt.want)
			}
		})
	}
}
