// Package distill makes a student from a teacher: the pipeline of
// `toolbrain distill`.
//
// Sequence-level distillation: a Teacher demonstrates the training tasks
// (a scripted expert acting through the real sandbox, a local checkpoint
// rolled out by the coach's executor, or an OpenAI-compatible endpoint),
// the coach's Scorer scores every demonstration with the configured
// [[rewards]], the ones that reach a reward threshold are kept, and the
// student is fine-tuned on them with core/train/sft. A demonstration keeps
// what its teacher can give: the exact token ids and loss mask of a local
// checkpoint that shares the student's tokenizer (Trace.Tokens), or the
// conversation as chat messages (Messages), which the student's own chat
// template renders — scripted and endpoint teachers give text, not ids.
//
// Logit-level distillation (RunKD): when teacher and student share a
// tokenizer, the student is trained to match the teacher's next-token
// distributions (core/train/loss.KD) on the teacher's demonstrations or on
// the student's own samples (on-policy, as GKD).
package distill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/internal/atomicfile"
	"github.com/toolbrain/toolbrain/sdk"
)

// Sentinel errors, wrapped with what is at fault.
var (
	// ErrTokenizer means teacher and student do not share a tokenizer where
	// the teacher's ids or logits are to train the student.
	ErrTokenizer = errors.New("distill: teacher and student tokenizers differ")
	// ErrNoDemos means no demonstration reached the reward threshold.
	ErrNoDemos = errors.New("distill: no demonstration to train on")
)

// Demo is one teacher episode on one task.
type Demo struct {
	Task sdk.Task
	// Messages is the conversation (system, the question, the teacher's
	// replies and the observations) as the student's athlete would hold
	// it; nil when the teacher gave token ids only.
	Messages []chattemplate.Message
	// Trace is what the Scorer reads: the final answer and the turns;
	// Turns[i].Tokens holds the teacher's exact ids when it has them.
	Trace sdk.Trace
	// Reward is set by Score.
	Reward float64
}

// Teacher demonstrates tasks.
type Teacher interface {
	// Demonstrate runs the teacher on every task and returns its episodes,
	// grouped by task in the order of tasks. A task the teacher fails is
	// an episode with Trace.Error set (the reward threshold drops it); an
	// error means the teacher could not run at all, or ctx ended.
	Demonstrate(ctx context.Context, tasks []sdk.Task) ([]Demo, error)
}

// Stats say what the filter did.
type Stats struct {
	Tasks int `json:"tasks"`
	Demos int `json:"demos"`
	Kept  int `json:"kept"`
	// Failed counts the episodes that ended in an error (no answer, a
	// script that did not apply, a turn limit).
	Failed int `json:"failed"`
	// MeanReward is over every demonstration, KeptTasks counts the tasks
	// with at least one kept demonstration.
	MeanReward float64 `json:"mean_reward"`
	KeptTasks  int     `json:"kept_tasks"`
	// RewardFallbacks counts scores that fell back (a failing reward).
	RewardFallbacks int `json:"reward_fallbacks"`
}

// Score scores every demonstration with s, a task's episodes as one group
// (a group reward, such as a judge, ranks them together), and sets
// Demo.Reward. It fails only when ctx ends.
func Score(ctx context.Context, s *coach.Scorer, demos []Demo) (fallbacks int, err error) {
	for start := 0; start < len(demos); {
		end := start + 1
		for end < len(demos) && demos[end].Task.ID == demos[start].Task.ID {
			end++
		}
		traces := make([]sdk.Trace, end-start)
		for i := range traces {
			traces[i] = demos[start+i].Trace
		}
		g, err := s.Score(ctx, demos[start].Task, traces)
		if err != nil {
			return fallbacks, err
		}
		for i, r := range g.Rewards {
			demos[start+i].Reward = r
		}
		fallbacks += g.Fallbacks
		start = end
	}
	return fallbacks, nil
}

// Keep returns the scored demonstrations whose reward reaches minReward,
// in order, and what was kept.
func Keep(demos []Demo, minReward float64) ([]Demo, Stats) {
	st := Stats{Demos: len(demos)}
	var kept []Demo
	tasks, keptTasks := map[string]bool{}, map[string]bool{}
	for _, d := range demos {
		tasks[d.Task.ID] = true
		st.MeanReward += d.Reward
		if d.Trace.Error != "" {
			st.Failed++
		}
		if d.Reward >= minReward {
			kept = append(kept, d)
			keptTasks[d.Task.ID] = true
		}
	}
	if len(demos) > 0 {
		st.MeanReward /= float64(len(demos))
	}
	st.Tasks, st.Kept, st.KeptTasks = len(tasks), len(kept), len(keptTasks)
	return kept, st
}

// MessagesJSONL is the demonstrations' conversations as `toolbrain sft`
// reads them: one {"messages": [...]} line each. A demonstration without
// messages is an error naming its task.
func MessagesJSONL(demos []Demo) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, d := range demos {
		if len(d.Messages) == 0 {
			return nil, fmt.Errorf("distill: task %s: the demonstration has token ids only, no messages", d.Task.ID)
		}
		line := messagesLine{Messages: make([]jsonMessage, len(d.Messages))}
		for i, m := range d.Messages {
			line.Messages[i] = jsonMessage{Role: m.Role, Content: m.Content}
		}
		if err := enc.Encode(line); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// messagesLine is a line of chat-message JSONL as the data commands write
// it (lower-case keys; train.MessagesLine reads it).
type messagesLine struct {
	Messages []jsonMessage `json:"messages"`
}

type jsonMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// WriteMessages writes MessagesJSONL(demos) to path, atomically.
func WriteMessages(path string, demos []Demo) error {
	b, err := MessagesJSONL(demos)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o644)
}

// ExactExamples are the demonstrations as training rows from the
// teacher's own ids: every id in context order, the mask 1 exactly on the
// ids the teacher generated (prompts, template glue and tool output are
// 0). Only a teacher sharing the student's tokenizer may be read this way
// (see SameTokenizer). A demonstration without ids is an error.
func ExactExamples(demos []Demo) ([]train.Example, error) {
	var out []train.Example
	for i := range demos {
		seq, err := demos[i].Trace.Sequence()
		if err != nil {
			return nil, fmt.Errorf("distill: task %s: %w", demos[i].Task.ID, err)
		}
		if seq.Generated == 0 {
			continue
		}
		mask := make([]float32, len(seq.Mask))
		for j, m := range seq.Mask {
			mask[j] = float32(m)
		}
		out = append(out, train.Example{IDs: seq.IDs, Mask: mask, Line: i + 1})
	}
	if len(out) == 0 {
		return nil, ErrNoDemos
	}
	return out, nil
}
