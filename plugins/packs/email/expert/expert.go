// Package expert is a scripted agent for the email-search environment: the
// teacher whose conversations become SFT data before RL.
//
// It is scripted, not learned: it reads the question with fixed patterns
// (the corpus's question templates), writes the same two turns of CodeAct
// code for every task, and reads the answer out of the printed message with
// a regular expression. It never looks at the gold answer; it goes through
// the real tools (search_emails over SQLite FTS5, read_email) in the real
// sandbox, so what it shows a student is exactly what a model acting in the
// environment would see. Its replies have the form the CodeAct athlete
// (core/agent) parses: a short thought, then one ```python block.
//
//	turn 1  Thought: I search the inbox for the orion meeting and read the newest match.
//	        ```python
//	        hits = search_emails(keywords=["orion", "meeting"])
//	        print(read_email(hits[0]["id"]))
//	        ```
//	turn 2  Thought: The email says 3pm.
//	        ```python
//	        final_answer("3pm")
//	        ```
//
// # Why two turns, and why hits[0]
//
// The student is tiny. Reading the newest match in the same turn as the
// search keeps each turn a copy from the question (turn 1) or from the
// message (turn 2), and the newest match is the right one by construction of
// the corpus: a question that names a sender filters by it (from_addr), and
// a fact that was updated is answered by the later reply.
package expert

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
)

// ErrUnsolved means the expert could not solve a task: the question is not
// one of the corpus's forms, or the tools did not show the fact it needed.
var ErrUnsolved = errors.New("expert: unsolved")

// Plan is what the expert reads from a question.
type Plan struct {
	Project string
	// Topic is the fact's subject word: meeting, invoice, offsite, lead.
	Topic string
	// Room asks for a meeting's room rather than its time.
	Room bool
	// From is the sender the question names ("" for none).
	From string
}

var topicWords = []string{"meeting", "invoice", "offsite", "lead"}

// Read parses a question of the corpus's forms.
func Read(prompt string) (Plan, error) {
	q := strings.TrimSuffix(strings.TrimSpace(strings.ToLower(prompt)), "?")
	var p Plan
	if head, sender, ok := strings.Cut(q, " according to "); ok {
		q, p.From = head, strings.TrimSpace(sender)
	}
	for _, w := range strings.Fields(q) {
		switch {
		case slices.Contains(corpus.Projects, w):
			p.Project = w
		case slices.Contains(topicWords, w):
			p.Topic = w
		}
	}
	p.Room = strings.HasPrefix(q, "which room")
	if p.Project == "" || p.Topic == "" {
		return p, fmt.Errorf("%w: %q names no project and topic", ErrUnsolved, prompt)
	}
	return p, nil
}

// Search is the first reply: search, then read the newest match.
func (p Plan) Search() string {
	what := p.Project + " " + p.Topic
	args := fmt.Sprintf("keywords=[%s, %s]", strconv.Quote(p.Project), strconv.Quote(p.Topic))
	if p.From != "" {
		what += " from " + p.From
		args += ", from_addr=" + strconv.Quote(p.From)
	}
	return "Thought: I search the inbox for the " + what + " and read the newest match.\n" +
		"```python\nhits = search_emails(" + args + ")\nprint(read_email(hits[0][\"id\"]))\n```"
}

// Answer is the second reply, for answer.
func Answer(answer string) string {
	return "Thought: The email says " + answer + ".\n```python\nfinal_answer(" + strconv.Quote(answer) + ")\n```"
}

// Extract finds the fact in the printed message: the sentence the corpus
// writes for the plan's project and topic.
func (p Plan) Extract(observation string) (string, error) {
	proj := regexp.QuoteMeta(p.Project)
	var re *regexp.Regexp
	group := 1
	switch p.Topic {
	case "meeting":
		re = regexp.MustCompile(`the ` + proj + ` meeting is at (\S+) in the (\S+) room`)
		if p.Room {
			group = 2
		}
	case "invoice":
		re = regexp.MustCompile(`the ` + proj + ` invoice is (\d+) dollars`)
	case "offsite":
		re = regexp.MustCompile(`the ` + proj + ` offsite is in ([a-z]+)`)
	case "lead":
		re = regexp.MustCompile(`the ` + proj + ` lead is ([a-z]+)`)
	default:
		return "", fmt.Errorf("%w: unknown topic %q", ErrUnsolved, p.Topic)
	}
	m := re.FindStringSubmatch(observation)
	if m == nil {
		return "", fmt.Errorf("%w: the observation does not state the %s %s: %q", ErrUnsolved, p.Project, p.Topic, clip(observation))
	}
	return m[group], nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// Runner runs one turn of code in the task's episode (a sandbox episode
// started for the task, so that the tools reach its inbox) and returns the
// observation message the CodeAct agent would append (see
// core/agent.CodeActObservation) and the final answer when the code gave
// one.
type Runner interface {
	Run(ctx context.Context, code string) (observation string, final *string, err error)
}

// Message is one chat message, in the {"role", "content"} form of
// `toolbrain sft`'s {"messages": [...]} lines.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Conversation is an episode of the expert.
type Conversation struct {
	Messages []Message `json:"messages"`
	// Answer is the final answer the code gave.
	Answer string `json:"-"`
}

// Solve runs the expert on one task through r and returns the conversation
// an ideal CodeAct agent has: system, the question, then for each turn the
// reply and its observation, ending with the reply that calls
// final_answer. system is the agent's system prompt
// (core/agent.CodeActSystem of the pack's tools).
func Solve(ctx context.Context, r Runner, system, prompt string) (Conversation, error) {
	plan, err := Read(prompt)
	if err != nil {
		return Conversation{}, err
	}
	c := Conversation{Messages: []Message{{Role: "system", Content: system}, {Role: "user", Content: prompt}}}
	turn := func(reply string) (string, *string, error) {
		code, ok := codeOf(reply)
		if !ok {
			return "", nil, fmt.Errorf("expert: reply without code: %q", reply)
		}
		obs, final, err := r.Run(ctx, code)
		if err != nil {
			return "", nil, err
		}
		c.Messages = append(c.Messages, Message{Role: "assistant", Content: reply})
		return obs, final, nil
	}
	obs, _, err := turn(plan.Search())
	if err != nil {
		return c, err
	}
	c.Messages = append(c.Messages, Message{Role: "user", Content: obs})
	ans, err := plan.Extract(obs)
	if err != nil {
		return c, err
	}
	_, final, err := turn(Answer(ans))
	if err != nil {
		return c, err
	}
	if final == nil {
		return c, fmt.Errorf("%w: final_answer gave nothing", ErrUnsolved)
	}
	c.Answer = *final
	return c, nil
}

// codeOf is the code of a reply of this package (one ```python block).
func codeOf(reply string) (string, bool) {
	_, rest, ok := strings.Cut(reply, "```python\n")
	if !ok {
		return "", false
	}
	code, _, ok := strings.Cut(rest, "```")
	return code, ok
}
