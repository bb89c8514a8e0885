package judge

import (
	"context"
	"fmt"

	"github.com/toolbrain/toolbrain/sdk"
)

// askTwice sends req and reads the answer with read. When read fails, it
// asks once more with the conversation, the unreadable answer and fix(err),
// a message that tells the model what was wrong, and reads that answer.
//
// A failing ask is returned wrapped and never retried: it is the host's or
// the network's failure, not the model's. Two unreadable answers give an
// error that wraps both reasons and sdk.ErrUnreadableAnswer; what names the
// verdict in its message ("ranking", "scores", "verdict").
func askTwice(ask Ask, req sdk.LLMRequest, what string, read func(text string) error, fix func(error) string) error {
	first, err := ask(req)
	if err != nil {
		return fmt.Errorf("judge: ask the LLM: %w", err)
	}
	err1 := read(first.Text)
	if err1 == nil {
		return nil
	}
	retry := req
	retry.Messages = append(append(make([]sdk.Message, 0, len(req.Messages)+2), req.Messages...),
		sdk.Message{Role: "assistant", Content: clip(first.Text, 4000)},
		sdk.Message{Role: "user", Content: fix(err1)})
	second, err := ask(retry)
	if err != nil {
		return fmt.Errorf("judge: ask the LLM again after an unreadable answer (%v): %w", err1, err)
	}
	if err2 := read(second.Text); err2 != nil {
		return fmt.Errorf("judge: no %s in two answers of the LLM: first: %w; second: %w (%w)", what, err1, err2, sdk.ErrUnreadableAnswer)
	}
	return nil
}

// withContext is an Ask over llm that passes ctx to every call, and fails
// without calling once ctx is done.
func withContext(ctx context.Context, llm sdk.LLM) Ask {
	return func(r sdk.LLMRequest) (sdk.LLMResponse, error) {
		if err := ctx.Err(); err != nil {
			return sdk.LLMResponse{}, err
		}
		return llm.Complete(ctx, r)
	}
}
