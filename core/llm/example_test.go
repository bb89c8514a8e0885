package llm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/sdk"
)

// An Endpoint asks an OpenAI-compatible server; here a stand-in that answers
// every chat completion with the model's name and the last message. A host
// would take judge.Complete as wasmhost.HostConfig.LLM.
func ExampleEndpoint() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model    string        `json:"model"`
			Messages []sdk.Message `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":{"message":"bad JSON"}}`, http.StatusBadRequest)
			return
		}
		reply := fmt.Sprintf("%s read %q. Yes.", req.Model, req.Messages[len(req.Messages)-1].Content)
		json.NewEncoder(w).Encode(map[string]any{
			"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": reply}}},
		})
	}))
	defer srv.Close()

	judge, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: srv.URL + "/v1", Model: "judge-7b"})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := judge.Complete(context.Background(), sdk.LLMRequest{
		Messages:  []sdk.Message{{Role: "system", Content: "Answer Yes or No."}, {Role: "user", Content: "Is 6*7 = 42?"}},
		MaxTokens: 8,
		Stop:      []string{" Yes"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", resp.Text)

	_, err = llm.NewEndpoint(llm.EndpointConfig{BaseURL: "localhost:8000", Model: "judge-7b"})
	fmt.Println(err)
	// Output:
	// "judge-7b read \"Is 6*7 = 42?\"."
	// llm: invalid configuration: BaseURL "localhost:8000": scheme "localhost", want http or https
}
