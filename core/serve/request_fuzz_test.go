package serve

import (
	"errors"
	"testing"
)

// FuzzParseRequest checks that no body makes the parser panic, and that a
// refused body names what is wrong.
//
//	go test ./core/serve -run '^$' -fuzz FuzzParseRequest -fuzztime 30s
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"role":"user","content":"hi"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stop":"x","top_p":0.5,"seed":3,"logprobs":true,"top_logprobs":2}`,
		`{"messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"1"}],` +
			`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		`{"messages":[],"tool_choice":"required"}`,
		`[]`, `{"messages":null}`, `{"stop":[""]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := parseRequest(body)
		if err != nil {
			var bf *badField
			if !errors.As(err, &bf) || bf.msg == "" {
				t.Fatalf("error %v is not a badField with a message", err)
			}
			return
		}
		if len(j.msgs) == 0 {
			t.Fatal("accepted a request without messages")
		}
		if j.choice == choiceFunction && !j.toolsShown() {
			t.Fatal("a named tool_choice without its tool")
		}
	})
}
