package judge

import (
	"context"
	"fmt"
	"strconv"

	"github.com/toolbrain/toolbrain/sdk"
)

// Ask sends one request to the judge's LLM and returns its answer: the
// toolbrain_llm host function inside the plugin, any client natively.
type Ask func(req sdk.LLMRequest) (sdk.LLMResponse, error)

// Judge ranks req.Traces: it renders [Ranker.Prompt], asks once, reads the
// answer with [ParseRanking] and, when that fails, asks once more with the
// first answer and a message saying what was wrong. The response holds
// the ranking (trace indices, best first) and its [Scores]; it passes
// sdk.JudgeResponse.Validate for the group.
//
// A group of one trace is ranked [0] with score 1 without asking. Errors:
// an invalid r ([ErrBadConfig]); no traces, or more than [MaxTraces]
// (sdk.ErrInvalidRequest); a failing ask, returned wrapped and never
// retried (it is the host's or the network's failure, not the model's);
// two unreadable answers ([ErrBadRanking], with both reasons).
func (r Ranker) Judge(req sdk.JudgeRequest, ask Ask) (sdk.JudgeResponse, error) {
	if err := r.Validate(); err != nil {
		return sdk.JudgeResponse{}, err
	}
	n := len(req.Traces)
	switch {
	case n == 0:
		return sdk.JudgeResponse{}, fmt.Errorf("%w: judge: no traces to rank", sdk.ErrInvalidRequest)
	case n > MaxTraces:
		return sdk.JudgeResponse{}, fmt.Errorf("%w: judge: %d traces, at most %d are ranked at once", sdk.ErrInvalidRequest, n, MaxTraces)
	case n == 1:
		return sdk.JudgeResponse{Ranking: []int{0}, Scores: []float64{1}}, nil
	}
	msgs := r.Prompt(req)
	llmReq := sdk.LLMRequest{Messages: msgs, MaxTokens: r.maxTokens()}
	first, err := ask(llmReq)
	if err != nil {
		return sdk.JudgeResponse{}, fmt.Errorf("judge: ask the LLM: %w", err)
	}
	ranking, err1 := ParseRanking(first.Text, n)
	if err1 != nil {
		retry := llmReq
		retry.Messages = append(append(make([]sdk.Message, 0, len(msgs)+2), msgs...),
			sdk.Message{Role: "assistant", Content: clip(first.Text, 4000)},
			sdk.Message{Role: "user", Content: correction(err1, n)})
		second, err := ask(retry)
		if err != nil {
			return sdk.JudgeResponse{}, fmt.Errorf("judge: ask the LLM again after an unreadable answer (%v): %w", err1, err)
		}
		var err2 error
		if ranking, err2 = ParseRanking(second.Text, n); err2 != nil {
			return sdk.JudgeResponse{}, fmt.Errorf("judge: no ranking in two answers of the LLM: first: %w; second: %w", err1, err2)
		}
	}
	return sdk.JudgeResponse{Ranking: ranking, Scores: Scores(ranking)}, nil
}

// Native is the judge in process, an sdk.Judge over an sdk.LLM (the same
// model that answers the plugin's toolbrain_llm).
type Native struct {
	Ranker Ranker
	// LLM answers the judge's requests; it receives Judge's ctx.
	LLM sdk.LLM
}

var _ sdk.Judge = Native{}

// Judge is [Ranker.Judge] with ctx passed to every LLM call; cancelling
// ctx makes the pending call (and so Judge) fail with the LLM's error.
func (j Native) Judge(ctx context.Context, req sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	if j.LLM == nil {
		return sdk.JudgeResponse{}, fmt.Errorf("%w: judge: no LLM configured", ErrBadConfig)
	}
	return j.Ranker.Judge(req, func(r sdk.LLMRequest) (sdk.LLMResponse, error) {
		if err := ctx.Err(); err != nil {
			return sdk.LLMResponse{}, err
		}
		return j.LLM.Complete(ctx, r)
	})
}

// ConfigKeys lists the keys [RankerFromConfig] reads, for a plugin that
// fetches its config key by key (config_get).
func ConfigKeys() []string { return []string{"max_tokens", "max_prompt_chars", "rubric"} }

// RankerFromConfig builds a Ranker from string values: max_tokens and
// max_prompt_chars (decimal integers, see [Ranker]) and rubric (any text).
// A missing key keeps the default. An unknown key, an unparsable or an out
// of range value fails with [ErrBadConfig] naming the key.
func RankerFromConfig(m map[string]string) (Ranker, error) {
	var r Ranker
	for k, v := range m {
		switch k {
		case "max_tokens", "max_prompt_chars":
			i, err := strconv.Atoi(v)
			if err != nil {
				return Ranker{}, fmt.Errorf("%w: %s %q: want a decimal integer", ErrBadConfig, k, short(v))
			}
			if k == "max_tokens" {
				r.MaxTokens = i
			} else {
				r.MaxPromptChars = i
			}
		case "rubric":
			r.Rubric = v
		default:
			return Ranker{}, fmt.Errorf("%w: unknown key %q (known: max_tokens, max_prompt_chars, rubric)", ErrBadConfig, short(k))
		}
	}
	if err := r.Validate(); err != nil {
		return Ranker{}, err
	}
	return r, nil
}
