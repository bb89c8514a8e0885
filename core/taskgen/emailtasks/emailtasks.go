// Package emailtasks is the scripted task generator for the email pack
// (plugins/packs/email): it draws questions from an inbox sample — the
// messages of a corpus directory written by `toolbrain data email` — and
// writes for each the calls the email tools answer it with. It is
// scripted, not a model: it reads facts out of the messages with the
// scripted expert's patterns (plugins/packs/email/expert) and words its
// questions from fixed templates.
//
// Two kinds of question:
//
//   - a fact ("When is the orion meeting?", "Who is the vega lead?"): the
//     calls search for the project and topic and read the newest match.
//     Easy when one message states it; hard when the newest is a reply
//     that updates it; medium when several senders state it, then asked
//     "according to SENDER" and searched with from_addr.
//   - a subject ("What is the subject of the email bob sent on
//     2024-01-05?"): the calls search by sender and day and read the
//     message. Medium; only when the sender sent one message that day.
//
// Every candidate carries the inbox (metadata "inbox", which the email
// tools read) and the gold message (metadata "message_ids", which the
// email reward's citation bonus reads).
package emailtasks

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/toolbrain/toolbrain/core/taskgen"
	"github.com/toolbrain/toolbrain/plugins/packs/email"
	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
	"github.com/toolbrain/toolbrain/plugins/packs/email/expert"
)

// Generator proposes email tasks from Messages. Successive calls to
// Generate go on through one pool of questions, shuffled once with the
// first call's seed, so that a second round proposes new ones; it is safe
// for concurrent use.
type Generator struct {
	// Messages is the inbox sample (every inbox of a corpus, or some).
	Messages []corpus.Message

	mu   sync.Mutex
	pool []taskgen.Candidate
	next int
	init bool
}

var _ taskgen.Generator = (*Generator)(nil)

// Generate proposes the next req.N questions of the pool (fewer when it
// runs out).
func (g *Generator) Generate(ctx context.Context, req taskgen.Request) ([]taskgen.Candidate, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("emailtasks: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.init {
		g.init = true
		// Each kind shuffled, then taken in turn: fact questions are
		// fewer than messages, and should not drown among subjects.
		r := rand.New(rand.NewPCG(req.Seed, 0x656d61696c)) // "email"
		fs, ss := pools(g.Messages)
		for _, p := range [][]taskgen.Candidate{fs, ss} {
			r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		}
		for i := 0; i < max(len(fs), len(ss)); i++ {
			if i < len(fs) {
				g.pool = append(g.pool, fs[i])
			}
			if i < len(ss) {
				g.pool = append(g.pool, ss[i])
			}
		}
	}
	end := min(len(g.pool), g.next+max(0, req.N))
	out := g.pool[g.next:end]
	g.next = end
	return out, nil
}

// topics are the fact topics and their questions: the corpus's forms,
// which the expert reads.
var topics = map[string][]struct {
	room bool
	text string // %s: the project
}{
	"meeting": {{false, "When is the %s meeting?"}, {true, "Which room is the %s meeting in?"}},
	"invoice": {{false, "How much is the %s invoice?"}},
	"offsite": {{false, "Where is the %s offsite?"}},
	"lead":    {{false, "Who is the %s lead?"}},
}

// Pool is every question the messages allow, in a fixed order: the fact
// questions by inbox, project and topic, then the subject questions by
// inbox and date.
func Pool(msgs []corpus.Message) []taskgen.Candidate {
	fs, ss := pools(msgs)
	return append(fs, ss...)
}

// pools are the fact and the subject questions, each in Pool's order.
func pools(msgs []corpus.Message) (fs, ss []taskgen.Candidate) {
	byInbox := map[string][]corpus.Message{}
	for _, m := range msgs {
		byInbox[m.Inbox] = append(byInbox[m.Inbox], m)
	}
	inboxes := make([]string, 0, len(byInbox))
	for in := range byInbox {
		inboxes = append(inboxes, in)
	}
	sort.Strings(inboxes)
	for _, in := range inboxes {
		ms := byInbox[in]
		// Newest first, as search_emails orders its hits.
		sort.SliceStable(ms, func(i, j int) bool {
			if ms[i].Date != ms[j].Date {
				return ms[i].Date > ms[j].Date
			}
			return ms[i].ID < ms[j].ID
		})
		fs = append(fs, facts(in, ms)...)
		ss = append(ss, subjects(in, ms)...)
	}
	return fs, ss
}

// facts are the fact questions of one inbox's messages (newest first).
func facts(inbox string, ms []corpus.Message) []taskgen.Candidate {
	groups := map[[2]string][]corpus.Message{}
	var keys [][2]string
	for _, m := range ms {
		words := strings.Fields(strings.TrimPrefix(m.Subject, "re: "))
		if len(words) != 2 || !slices.Contains(corpus.Projects, words[0]) || topics[words[1]] == nil {
			continue
		}
		k := [2]string{words[0], words[1]}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], m)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+" "+keys[i][1] < keys[j][0]+" "+keys[j][1] })
	var out []taskgen.Candidate
	for _, k := range keys {
		g := groups[k]
		for _, q := range topics[k[1]] {
			plan := expert.Plan{Project: k[0], Topic: k[1], Room: q.room}
			text := fmt.Sprintf(q.text, k[0])
			newest := g[0]
			switch {
			case len(g) == 1 || newest.ReplyTo != "":
				diff := taskgen.Easy
				if len(g) > 1 {
					diff = taskgen.Hard
				}
				if c, ok := fact(inbox, plan, text, "", newest, diff); ok {
					out = append(out, c)
				}
			default:
				seen := map[string]bool{}
				for _, m := range g {
					name := localPart(m.From)
					if seen[name] {
						continue
					}
					seen[name] = true
					asked := strings.TrimSuffix(text, "?") + " according to " + name + "?"
					if c, ok := fact(inbox, plan, asked, name, m, taskgen.Medium); ok {
						out = append(out, c)
					}
				}
			}
		}
	}
	return out
}

// fact is one fact question answered by m, searched by the plan's words
// and, when from is set, by sender.
func fact(inbox string, plan expert.Plan, question, from string, m corpus.Message, diff string) (taskgen.Candidate, bool) {
	answer, err := plan.Extract(m.Body)
	if err != nil {
		return taskgen.Candidate{}, false
	}
	search := map[string]any{"keywords": []string{plan.Project, plan.Topic}}
	if from != "" {
		search["from_addr"] = from
	}
	return candidate(inbox, question, answer, diff, search, m.ID), true
}

// subjects are the subject questions of one inbox's messages: one per
// message whose sender sent no other message that day.
func subjects(inbox string, ms []corpus.Message) []taskgen.Candidate {
	count := map[[2]string]int{}
	for _, m := range ms {
		count[[2]string{localPart(m.From), m.Date}]++
	}
	var out []taskgen.Candidate
	for i := len(ms) - 1; i >= 0; i-- { // oldest first
		m := ms[i]
		name := localPart(m.From)
		day, err := time.Parse(time.DateOnly, m.Date)
		if err != nil || count[[2]string{name, m.Date}] != 1 || m.Subject == "" {
			continue
		}
		search := map[string]any{
			"from_addr":   name,
			"sent_after":  day.AddDate(0, 0, -1).Format(time.DateOnly),
			"sent_before": day.AddDate(0, 0, 1).Format(time.DateOnly),
		}
		q := fmt.Sprintf("What is the subject of the email %s sent on %s?", name, m.Date)
		out = append(out, candidate(inbox, q, m.Subject, taskgen.Medium, search, m.ID))
	}
	return out
}

// candidate is a question solved by a search and reading message id.
func candidate(inbox, question, answer, diff string, search map[string]any, id string) taskgen.Candidate {
	s, _ := json.Marshal(search)
	r, _ := json.Marshal(map[string]string{"message_id": id})
	return taskgen.Candidate{
		Question:   question,
		Answer:     answer,
		Difficulty: diff,
		Calls:      []taskgen.Call{{Name: email.SearchTool, Arguments: s}, {Name: email.ReadTool, Arguments: r}},
		Metadata:   map[string]string{corpus.MetadataInbox: inbox, corpus.MetadataMessageIDs: id},
	}
}

// localPart is the name of an address ("bob@acme.com" → "bob").
func localPart(addr string) string {
	name, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(addr)), "@")
	return name
}

// Hint tells a model generator ([taskgen.LLM]) how the email tools find
// their inbox.
const Hint = `The email tools search the inbox named by the task's metadata: every task must set "metadata": {"inbox": "<the inbox id of the messages it asks about>"}.`

// Sample is the messages as a model generator's sample data: one JSON
// object per line, at most maxBytes (whole lines; 0 = taskgen.MaxSampleBytes).
func Sample(msgs []corpus.Message, maxBytes int) string {
	if maxBytes <= 0 {
		maxBytes = taskgen.MaxSampleBytes
	}
	var b strings.Builder
	for _, m := range msgs {
		line, err := json.Marshal(m)
		if err != nil || b.Len()+len(line)+1 > maxBytes {
			break
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}
