package rewards

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/sdk"
)

// answersRef is the reference: encoding/json decoding the same two fields.
func answersRef(data []byte) (expected, final string, err error) {
	var v struct {
		Expected string `json:"expected"`
		Trace    struct {
			FinalAnswer string `json:"final_answer"`
		} `json:"trace"`
	}
	err = json.Unmarshal(data, &v)
	return v.Expected, v.Trace.FinalAnswer, err
}

func TestDecodeAnswers(t *testing.T) {
	big, _ := json.Marshal(sdk.RewardRequest{Expected: "42 EUR", Trace: sdk.Trace{
		FinalAnswer: "42 EUR",
		Turns: []sdk.Turn{{
			Prompt:     "Find the total.",
			Completion: `{"final_answer": "trap"} "expected": "no"`,
			ToolCalls:  []sdk.ToolCall{{ID: "c1", Name: "s", Arguments: json.RawMessage(`{"final_answer":"nested","n":[1,-2.5e+3,true,false,null,{}]}`)}},
			Tokens:     &sdk.TokenSpans{PromptIDs: []int32{1, 2, 3}, Logprobs: []float32{-0.1, -1e-7}},
		}},
	}})
	tests := []struct {
		name            string
		in              string
		expected, final string
		wantErr         bool
	}{
		{name: "minimal", in: `{"expected":"42","trace":{"final_answer":"42","turns":[]}}`, expected: "42", final: "42"},
		{name: "marshalled trace with decoys", in: string(big), expected: "42 EUR", final: "42 EUR"},
		{name: "reordered", in: `{"trace":{"turns":[{"x":"}"}],"final_answer":"b"},"task":{"id":"t"},"expected":"a"}`, expected: "a", final: "b"},
		{name: "escapes", in: `{"expected":"a\"b\\c\/d\b\f\n\r\t","trace":{"final_answer":"\u00e9\u20AC"}}`, expected: "a\"b\\c/d\b\f\n\r\t", final: "é€"},
		{name: "surrogate pair", in: `{"expected":"\ud83d\ude00","trace":{}}`, expected: "😀"},
		{name: "lone high surrogate then escape", in: `{"expected":"\ud83d\n"}`, expected: "\uFFFD\n"},
		{name: "lone low surrogate", in: `{"expected":"\ude00x"}`, expected: "\uFFFDx"},
		{name: "high then non-low", in: `{"expected":"\ud83d\u0041"}`, expected: "\uFFFDA"},
		{name: "invalid utf-8 replaced", in: "{\"expected\":\"a\xffb\xc3\"}", expected: "a\uFFFDb\uFFFD"},
		{name: "raw utf-8 kept", in: `{"expected":"日本"}`, expected: "日本"},
		{name: "case-insensitive keys", in: `{"EXPECTED":"x","Trace":{"Final_Answer":"y"}}`, expected: "x", final: "y"},
		{name: "long s folds to s", in: `{"trace":{"final_anſwer":"y"}}`, final: "y"},
		{name: "kelvin sign is not e", in: `{"\u212Axpected":"x"}`},
		{name: "escaped key", in: `{"\u0065xpected":"x"}`, expected: "x"},
		{name: "last duplicate wins", in: `{"expected":"a","expected":"b"}`, expected: "b"},
		{name: "null keeps earlier", in: `{"expected":"a","expected":null,"trace":{"final_answer":"f"},"trace":null}`, expected: "a", final: "f"},
		{name: "traces merge", in: `{"trace":{"final_answer":"f"},"trace":{"turns":[]}}`, final: "f"},
		{name: "null request", in: ` null `},
		{name: "empty object", in: `{}`},
		{name: "white space", in: " \t\n\r{ \"expected\" : \"a\" , \"trace\" : { } } \n", expected: "a"},
		{name: "numbers", in: `{"n":[0,-0,1.5,-2e10,3E-2,4e+1,0.0]}`},

		{name: "empty input", in: ``, wantErr: true},
		{name: "truncated", in: `{"expected":"a"`, wantErr: true},
		{name: "truncated string", in: `{"expected":"a`, wantErr: true},
		{name: "trailing garbage", in: `{} x`, wantErr: true},
		{name: "trailing comma", in: `{"a":1,}`, wantErr: true},
		{name: "array trailing comma", in: `{"a":[1,]}`, wantErr: true},
		{name: "control character", in: "{\"expected\":\"a\nb\"}", wantErr: true},
		{name: "bad escape", in: `{"expected":"\x"}`, wantErr: true},
		{name: "bad unicode escape", in: `{"expected":"\u12g4"}`, wantErr: true},
		{name: "bad escape in skipped", in: `{"other":"\q"}`, wantErr: true},
		{name: "leading zero", in: `{"n":01}`, wantErr: true},
		{name: "bare minus", in: `{"n":-}`, wantErr: true},
		{name: "dot without digits", in: `{"n":1.}`, wantErr: true},
		{name: "bad literal", in: `{"n":nul}`, wantErr: true},
		{name: "single quotes", in: `{'expected':'a'}`, wantErr: true},
		{name: "expected is a number", in: `{"expected":42}`, wantErr: true},
		{name: "trace is an array", in: `{"trace":[]}`, wantErr: true},
		{name: "final answer is an object", in: `{"trace":{"final_answer":{}}}`, wantErr: true},
		{name: "top level array", in: `[]`, wantErr: true},
		{name: "top level string", in: `"x"`, wantErr: true},
		{name: "byte order mark", in: "\uFEFF{}", wantErr: true},
		{name: "too deep", in: `{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, wantErr: true},
		{name: "deep but within the limit", in: `{"a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeAnswers([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, sdk.ErrInvalidRequest) {
					t.Fatalf("error %v is not sdk.ErrInvalidRequest", err)
				}
			} else if got.Expected != tt.expected || got.Trace.FinalAnswer != tt.final {
				t.Fatalf("got (%q, %q), want (%q, %q)", got.Expected, got.Trace.FinalAnswer, tt.expected, tt.final)
			}
			// The table's values were worked by hand; encoding/json must
			// agree with them too.
			e, f, rerr := answersRef([]byte(tt.in))
			if (rerr != nil) != tt.wantErr || rerr == nil && (e != tt.expected || f != tt.final) {
				t.Fatalf("encoding/json disagrees with the table: (%q, %q, %v)", e, f, rerr)
			}
		})
	}
}

// FuzzDecodeAnswers checks DecodeAnswers against encoding/json on any input:
// the same accept/reject decision and the same two strings.
func FuzzDecodeAnswers(f *testing.F) {
	for _, s := range []string{
		`{"expected":"42","trace":{"final_answer":"42","turns":[]}}`,
		`{"expected":"\ud83d\ude00","trace":{"final_answer":"\u00e9","x":[1,2.5e-3,{"y":null}]}}`,
		`{"EXPECTED":null,"trace":{"final_anſwer":"y"},"trace":null}`,
		"{\"expected\":\"a\xffb\"}",
		`{"n":-0.0e+0,"b":[true,false]}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeAnswers(data)
		e, fa, rerr := answersRef(data)
		if (err != nil) != (rerr != nil) {
			t.Fatalf("DecodeAnswers error %v, encoding/json error %v", err, rerr)
		}
		if err == nil && (got.Expected != e || got.Trace.FinalAnswer != fa) {
			t.Fatalf("DecodeAnswers (%q, %q), encoding/json (%q, %q)", got.Expected, got.Trace.FinalAnswer, e, fa)
		}
	})
}

func benchRequest() []byte {
	tr := sdk.Trace{FinalAnswer: "42 EUR", ID: "t0-0", TaskID: "t0"}
	for i := 0; i < 3; i++ {
		tr.Turns = append(tr.Turns, sdk.Turn{
			Prompt:     "Find the invoice total in the mailbox and answer with the number only.",
			Completion: `I will search the mailbox. {"final_answer": "trap"} search(q="invoice")`,
			ToolCalls:  []sdk.ToolCall{{ID: "c1", Name: "search", Arguments: json.RawMessage(`{"q":"invoice","final_answer":"nested"}`)}},
			Observations: []sdk.Observation{{ToolCallID: "c1", Name: "search",
				Content: "From: billing@example.com\nSubject: Invoice 1234\nTotal: 42 EUR"}},
			Tokens: &sdk.TokenSpans{PromptIDs: []int32{1, 2, 3, 4, 5, 6, 7, 8}, GeneratedIDs: []int32{9, 10, 11, 12}, Logprobs: []float32{-0.1, -0.2, -0.3, -0.4}},
		})
	}
	b, _ := json.Marshal(sdk.RewardRequest{Expected: "42 EUR", Trace: tr})
	return b
}

// BenchmarkDecodeAnswers is the reward plugins' request decoding on a 2 KB
// trace, natively; encoding/json alongside for scale.
func BenchmarkDecodeAnswers(b *testing.B) {
	in := benchRequest()
	b.Run("DecodeAnswers", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeAnswers(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeHostAnswers", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeHostAnswers(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := answersRef(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestDecodeHostAnswers(t *testing.T) {
	host, _ := json.Marshal(sdk.RewardRequest{Expected: "a\"\u2028<é", Trace: sdk.Trace{FinalAnswer: "\x00b\ufffd", Turns: []sdk.Turn{{Prompt: "p"}}}})
	tests := []struct {
		name            string
		in              string
		expected, final string
		wantErr         bool
	}{
		{name: "host encoding", in: string(host), expected: "a\"\u2028<é", final: "\x00b\ufffd"},
		{name: "tail not read", in: `{"expected":"a","trace":{"final_answer":"b"` + "\x00garbage", expected: "a", final: "b"},
		{name: "other order falls back", in: `{"trace":{"final_answer":"b"},"expected":"a"}`, expected: "a", final: "b"},
		{name: "white space falls back", in: `{"expected": "a","trace":{"final_answer":"b"}}`, expected: "a", final: "b"},
		{name: "trace without answer first falls back", in: `{"expected":"a","trace":{"turns":[],"final_answer":"b"}}`, expected: "a", final: "b"},
		{name: "bad escape falls back and fails", in: `{"expected":"\x","trace":{"final_answer":"b"}}`, wantErr: true},
		{name: "truncated falls back and fails", in: `{"expected":"a","trace":{"final_answer":"b`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeHostAnswers([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (got.Expected != tt.expected || got.Trace.FinalAnswer != tt.final) {
				t.Fatalf("got (%q, %q), want (%q, %q)", got.Expected, got.Trace.FinalAnswer, tt.expected, tt.final)
			}
		})
	}
}

// FuzzDecodeHostAnswers checks DecodeHostAnswers against encoding/json on
// every request the host can write, and against DecodeAnswers on any input
// that does not start the host's way.
func FuzzDecodeHostAnswers(f *testing.F) {
	f.Add("42", "42", "prompt", []byte(`{"expected":"x"}`))
	f.Add("\xed\xa0\xbd", "a\\\"b\u2028", "\x00\xff", []byte(`{"expected":"a","trace":{"final_answer":"b"`))
	f.Fuzz(func(t *testing.T, expected, final, prompt string, data []byte) {
		in, err := json.Marshal(sdk.RewardRequest{Expected: expected, Trace: sdk.Trace{FinalAnswer: final, Turns: []sdk.Turn{{Prompt: prompt}}}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeHostAnswers(in)
		e, fa, rerr := answersRef(in)
		if err != nil || rerr != nil || got.Expected != e || got.Trace.FinalAnswer != fa {
			t.Fatalf("host request %s: DecodeHostAnswers (%q, %q, %v), encoding/json (%q, %q, %v)", in, got.Expected, got.Trace.FinalAnswer, err, e, fa, rerr)
		}
		if strings.HasPrefix(string(data), `{"expected":"`) {
			return
		}
		got, err = DecodeHostAnswers(data)
		want, werr := DecodeAnswers(data)
		if (err != nil) != (werr != nil) || got.Expected != want.Expected || got.Trace.FinalAnswer != want.Trace.FinalAnswer {
			t.Fatalf("DecodeHostAnswers (%q, %q, %v), DecodeAnswers (%q, %q, %v)", got.Expected, got.Trace.FinalAnswer, err, want.Expected, want.Trace.FinalAnswer, werr)
		}
	})
}
