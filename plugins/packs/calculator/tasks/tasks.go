// Package tasks generates arithmetic word problems for the calculator
// tool pack, and the replies of a scripted expert that solves them with
// the pack's arith tool: a small, learnable task for the coach, and the
// demonstrations a model is first fine-tuned on.
//
// The expert is a script, not a model: it reads the operation and the
// operands from the task's metadata and writes the CodeAct reply an
// ideal agent would.
package tasks

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/toolbrain/toolbrain/sdk"
)

// SystemPrompt is the athlete's system prompt these tasks are written for
// (set it as [train] system): short, since a byte-level model reads every
// character of it on every episode.
const SystemPrompt = "Use the arith tool. Reply with one python block."

// ops are the operations, as the question words them and as arith names
// them.
var ops = []struct{ word, op string }{{"plus", "add"}, {"minus", "sub"}, {"times", "mul"}}

// Generate returns n tasks drawn from seed: "What is 17 plus 25?" with the
// exact answer, operands below 100 (below 10 for times, keeping products
// short). The same seed gives the same tasks; tasks of different seeds
// overlap only by chance.
func Generate(seed uint64, n int) []sdk.Task {
	r := rand.New(rand.NewPCG(seed, 0x0ca1c))
	out := make([]sdk.Task, n)
	for i := range out {
		o := ops[r.IntN(len(ops))]
		hi := 100
		if o.op == "mul" {
			hi = 10
		}
		a, b := r.IntN(hi), r.IntN(hi)
		var ans int
		switch o.op {
		case "add":
			ans = a + b
		case "sub":
			ans = a - b
		case "mul":
			ans = a * b
		}
		out[i] = sdk.Task{
			ID:       fmt.Sprintf("calc-%d-%d", seed, i),
			Prompt:   fmt.Sprintf("What is %d %s %d?", a, o.word, b),
			Expected: strconv.Itoa(ans),
			Metadata: map[string]string{"op": o.op, "a": strconv.Itoa(a), "b": strconv.Itoa(b)},
		}
	}
	return out
}

// ExpertReply is the scripted expert's reply to t: one python block that
// calls arith and gives its result as the final answer.
func ExpertReply(t sdk.Task) (string, error) {
	op, a, b := t.Metadata["op"], t.Metadata["a"], t.Metadata["b"]
	if op == "" || a == "" || b == "" {
		return "", fmt.Errorf("task %s: no op, a and b in its metadata", t.ID)
	}
	return fmt.Sprintf("```python\nfinal_answer(arith(op=%q, a=%s, b=%s))\n```", op, a, b), nil
}

// Message is one chat message of a demonstration.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Demonstration is the expert's conversation on t, as `toolbrain sft`
// reads it ({"messages": [...]}, rendered by the chat template).
func Demonstration(t sdk.Task) ([]Message, error) {
	reply, err := ExpertReply(t)
	if err != nil {
		return nil, err
	}
	return []Message{{"system", SystemPrompt}, {"user", t.Prompt}, {"assistant", reply}}, nil
}
