package retrieval

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/llm"
)

// judgeServer is an OpenAI-compatible endpoint that answers every chat
// request with answer and keeps the last prompt it was sent.
func judgeServer(t *testing.T, answer string, status int) (*llm.Endpoint, *string) {
	t.Helper()
	var prompt string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		prompt = req.Messages[0].Content
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": answer}, "finish_reason": "stop"}}})
	}))
	t.Cleanup(srv.Close)
	ep, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: srv.URL + "/v1", Model: "judge", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return ep, &prompt
}

func TestLLMReranker(t *testing.T) {
	ctx := context.Background()
	first, err := New(ctx, smallLib, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := "send the weather for the city"
	plain, _ := first.Search(ctx, q, 3)
	if len(plain) < 2 {
		t.Fatalf("first stage %+v", plain)
	}
	tests := []struct {
		name, answer string
		want         []Hit
	}{
		{name: "reordered", answer: "2, 1", want: []Hit{plain[1], plain[0]}},
		{name: "unusable answer keeps the order", answer: "I cannot tell.", want: plain[:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, prompt := judgeServer(t, tt.answer, http.StatusOK)
			ix, err := New(ctx, smallLib, Options{Reranker: LLMReranker{Client: ep}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ix.Search(ctx, q, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0] != tt.want[0] || got[1] != tt.want[1] {
				t.Errorf("re-ranked %+v, want %+v", got, tt.want)
			}
			for _, s := range []string{"Task: " + q, "1. " + plain[0].Name + ": ", "2. " + plain[1].Name + ": "} {
				if !strings.Contains(*prompt, s) {
					t.Errorf("prompt lacks %q:\n%s", s, *prompt)
				}
			}
		})
	}
	t.Run("endpoint error", func(t *testing.T) {
		ep, _ := judgeServer(t, "", http.StatusBadRequest)
		ix, err := New(ctx, smallLib, Options{Reranker: LLMReranker{Client: ep}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ix.Search(ctx, q, 2); err == nil || !strings.Contains(err.Error(), "re-rank") {
			t.Errorf("Search: %v, want a re-rank error", err)
		}
	})
}
