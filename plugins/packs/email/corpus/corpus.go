// Package corpus generates the synthetic mailboxes and questions of the
// email-search environment (issue 12): several inboxes of short work emails,
// and for each inbox questions whose answers sit in one of its messages.
//
// # Why synthetic, and why so plain
//
// The environment exists to train and measure a tiny CodeAct model (about a
// million parameters, trained on two CPU cores) that must learn to search an
// inbox, read the right message and answer. So the corpus is built from a
// small, regular vocabulary (a dozen projects, people, places, rooms) and a
// handful of sentence templates, and every answer is one short exact word
// ("3pm", "paris", "420"). What the model must learn is the procedure, not
// English.
//
// # Determinism
//
// [Generate] draws everything from one math/rand/v2 PCG source seeded by
// Options.Seed and iterates only over slices, never maps: the same options
// give byte-identical files on every machine. A golden test pins the
// digests of one corpus, so that a Go release that changed what
// math/rand/v2 draws from a seed would be noticed rather than silently
// move the data.
//
// # Split
//
// Tasks are split into train and test by inbox, not by question: the last
// Options.TestInboxes inboxes are held out, so a test question is about mail
// the model never saw during training.
//
// # Difficulty
//
//   - easy: one message holds the fact; searching the project and the topic
//     finds it.
//   - medium: two people wrote about the same fact with different values;
//     the question names the sender, so the search must filter by sender
//     (from_addr).
//   - hard: the fact was updated by a later reply; the answer is the newer
//     value, so the agent must read the newest match, not the first one it
//     sees.
package corpus

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/toolbrain/toolbrain/sdk"
)

// ErrBadOptions means an Options field is out of range.
var ErrBadOptions = errors.New("corpus: invalid options")

// Defaults of the zero Options fields.
const (
	DefaultInboxes       = 8
	DefaultTasksPerInbox = 16
	// Domain is every address's domain.
	Domain = "acme.com"
)

// Options choose the corpus. The zero value is a valid corpus of seed 0.
type Options struct {
	Seed uint64
	// Inboxes is how many inboxes to generate (default 8, at most 64).
	Inboxes int
	// TasksPerInbox is how many questions each inbox gets (default 16, at
	// most the number of distinct facts an inbox can hold, len(Projects)
	// × 4 topics = 48).
	TasksPerInbox int
	// TestInboxes is how many inboxes are held out for test; 0 means a
	// quarter of them, at least one when there are two or more.
	TestInboxes int
}

func (o Options) withDefaults() (Options, error) {
	if o.Inboxes == 0 {
		o.Inboxes = DefaultInboxes
	}
	if o.TasksPerInbox == 0 {
		o.TasksPerInbox = DefaultTasksPerInbox
	}
	if o.TestInboxes == 0 && o.Inboxes >= 2 {
		o.TestInboxes = max(1, o.Inboxes/4)
	}
	maxTasks := len(Projects) * len(topics)
	switch {
	case o.Inboxes < 0 || o.Inboxes > 64:
		return o, fmt.Errorf("%w: inboxes %d, want 1..64", ErrBadOptions, o.Inboxes)
	case o.TasksPerInbox < 0 || o.TasksPerInbox > maxTasks:
		return o, fmt.Errorf("%w: tasks per inbox %d, want 1..%d", ErrBadOptions, o.TasksPerInbox, maxTasks)
	case o.TestInboxes < 0 || o.TestInboxes >= o.Inboxes && o.Inboxes > 1:
		return o, fmt.Errorf("%w: test inboxes %d of %d, want fewer than the inboxes", ErrBadOptions, o.TestInboxes, o.Inboxes)
	}
	return o, nil
}

// Message is one email. Dates are days (YYYY-MM-DD): the tools filter by
// them and the model copies them, and a day is enough to order an inbox,
// since no two messages of an inbox share one.
type Message struct {
	ID      string   `json:"id"`
	Inbox   string   `json:"inbox"`
	Date    string   `json:"date"`
	From    string   `json:"from"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
	// ReplyTo is the id of the message this one answers ("" for none):
	// messages sharing a root form a thread.
	ReplyTo string `json:"reply_to,omitempty"`
}

// Inbox is one person's mailbox.
type Inbox struct {
	ID       string    `json:"id"`
	Owner    string    `json:"owner"`
	Messages []Message `json:"messages"`
}

// Difficulties of a task.
const (
	Easy   = "easy"
	Medium = "medium"
	Hard   = "hard"
)

// Task is one question about one inbox: a line of train.jsonl or
// test.jsonl.
//
//	{"id":"ib00-q03","prompt":"When is the orion meeting?","answer":"3pm",
//	 "inbox":"ib00","message_ids":["ib00-m007"],"difficulty":"easy",
//	 "keywords":["orion","meeting"]}
//
// Keywords and From are how the scripted expert searches; the coach ignores
// them.
type Task struct {
	ID         string   `json:"id"`
	Prompt     string   `json:"prompt"`
	Answer     string   `json:"answer"`
	Inbox      string   `json:"inbox"`
	MessageIDs []string `json:"message_ids"`
	Difficulty string   `json:"difficulty"`
	Keywords   []string `json:"keywords"`
	From       string   `json:"from,omitempty"`
}

// Task metadata keys: how a Task travels as an sdk.Task (see [Task.SDK]).
const (
	MetadataInbox      = "inbox"       // the inbox the tools search
	MetadataMessageIDs = "message_ids" // gold message ids, comma-separated (the reward's citation bonus)
	MetadataDifficulty = "difficulty"
)

// SDK is the task as the coach hands it to agents, tools and rewards: the
// answer as Expected, the rest as metadata.
func (t Task) SDK() sdk.Task {
	return sdk.Task{ID: t.ID, Prompt: t.Prompt, Expected: t.Answer, Metadata: map[string]string{
		MetadataInbox: t.Inbox, MetadataMessageIDs: strings.Join(t.MessageIDs, ","), MetadataDifficulty: t.Difficulty,
	}}
}

// Corpus is a generated corpus.
type Corpus struct {
	Seed    uint64  `json:"seed"`
	Inboxes []Inbox `json:"inboxes"`
	Train   []Task  `json:"train"`
	Test    []Task  `json:"test"`
}

// The vocabulary. Every word is lower case and one token-friendly piece.
var (
	Projects = []string{"apollo", "atlas", "cobalt", "ember", "falcon", "helix", "nova", "orion", "pulsar", "quartz", "vega", "zephyr"}
	People   = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "kevin", "laura"}
	cities   = []string{"berlin", "lisbon", "madrid", "oslo", "paris", "prague", "rome", "vienna"}
	rooms    = []string{"blue", "green", "red", "white", "yellow", "orange"}
	times    = []string{"9am", "10am", "11am", "1pm", "2pm", "3pm", "4pm", "5pm"}
	fillers  = []string{"lunch", "notes", "report", "holiday", "slides", "coffee"}
)

// topic is one kind of fact: its subject word and how it is written.
type topic struct {
	word string
	// values draws the fact's values; questions asks about them.
	values    func(r *rand.Rand) []string
	sentence  func(p string, v []string) string
	questions []question
}

type question struct {
	text  func(p string) string // ends with "?"
	value int                   // index into the fact's values
}

var topics = []topic{
	{
		word:   "meeting",
		values: func(r *rand.Rand) []string { return []string{pick(r, times), pick(r, rooms)} },
		sentence: func(p string, v []string) string {
			return fmt.Sprintf("the %s meeting is at %s in the %s room.", p, v[0], v[1])
		},
		questions: []question{
			{text: func(p string) string { return fmt.Sprintf("When is the %s meeting?", p) }, value: 0},
			{text: func(p string) string { return fmt.Sprintf("Which room is the %s meeting in?", p) }, value: 1},
		},
	},
	{
		word:      "invoice",
		values:    func(r *rand.Rand) []string { return []string{fmt.Sprint(100 + 10*r.IntN(90))} },
		sentence:  func(p string, v []string) string { return fmt.Sprintf("the %s invoice is %s dollars.", p, v[0]) },
		questions: []question{{text: func(p string) string { return fmt.Sprintf("How much is the %s invoice?", p) }}},
	},
	{
		word:      "offsite",
		values:    func(r *rand.Rand) []string { return []string{pick(r, cities)} },
		sentence:  func(p string, v []string) string { return fmt.Sprintf("the %s offsite is in %s.", p, v[0]) },
		questions: []question{{text: func(p string) string { return fmt.Sprintf("Where is the %s offsite?", p) }}},
	},
	{
		word:      "lead",
		values:    func(r *rand.Rand) []string { return []string{pick(r, People)} },
		sentence:  func(p string, v []string) string { return fmt.Sprintf("the %s lead is %s.", p, v[0]) },
		questions: []question{{text: func(p string) string { return fmt.Sprintf("Who is the %s lead?", p) }}},
	},
}

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

// Addr is a person's address.
func Addr(person string) string { return person + "@" + Domain }

// startDate is day 0 of every inbox.
var startDate = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Generate builds the corpus of opts.
func Generate(opts Options) (*Corpus, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(opts.Seed, 0x746f6f6c627261)) // "toolbra"
	c := &Corpus{Seed: opts.Seed}
	for i := range opts.Inboxes {
		in, tasks := genInbox(r, i, opts.TasksPerInbox)
		c.Inboxes = append(c.Inboxes, in)
		if i >= opts.Inboxes-opts.TestInboxes {
			c.Test = append(c.Test, tasks...)
		} else {
			c.Train = append(c.Train, tasks...)
		}
	}
	return c, nil
}

// draft is a message before its date and id are known.
type draft struct {
	from, to, subject, body string
	// after is the index of a draft this one must follow (its reply), -1
	// for none.
	after int
	// gold lists the tasks (by index) this message answers.
	gold []int
}

func genInbox(r *rand.Rand, n, ntasks int) (Inbox, []Task) {
	id := fmt.Sprintf("ib%02d", n)
	owner := pick(r, People)
	var others []string
	for _, p := range People {
		if p != owner {
			others = append(others, p)
		}
	}
	// The facts: ntasks distinct (project, topic) slots.
	type slot struct{ p, t int }
	var slots []slot
	for p := range Projects {
		for t := range topics {
			slots = append(slots, slot{p, t})
		}
	}
	r.Shuffle(len(slots), func(i, j int) { slots[i], slots[j] = slots[j], slots[i] })
	slots = slots[:ntasks]

	var drafts []draft
	var tasks []Task
	add := func(d draft) int {
		drafts = append(drafts, d)
		return len(drafts) - 1
	}
	hello := func(to string) string { return "hi " + to + ", " }
	for k, s := range slots {
		p, tp := Projects[s.p], topics[s.t]
		q := tp.questions[r.IntN(len(tp.questions))]
		subject := p + " " + tp.word
		sender := pick(r, others)
		vals := tp.values(r)
		t := Task{
			ID:       fmt.Sprintf("%s-q%02d", id, k),
			Prompt:   q.text(p),
			Inbox:    id,
			Keywords: []string{p, tp.word},
		}
		// Difficulty: half easy, a quarter each medium and hard.
		switch d := r.IntN(4); {
		case d < 2:
			t.Difficulty = Easy
			t.Answer = vals[q.value]
			add(draft{from: sender, to: owner, subject: subject, body: hello(owner) + tp.sentence(p, vals), after: -1, gold: []int{k}})
		case d == 2:
			t.Difficulty = Medium
			other := pick(r, others)
			for other == sender {
				other = pick(r, others)
			}
			alt := differentValues(r, tp, vals, q.value)
			t.Answer, t.From = vals[q.value], sender
			t.Prompt = strings.TrimSuffix(t.Prompt, "?") + " according to " + sender + "?"
			// Which of the two is newer is left to the shuffle below.
			add(draft{from: sender, to: owner, subject: subject, body: hello(owner) + tp.sentence(p, vals), after: -1, gold: []int{k}})
			add(draft{from: other, to: owner, subject: subject, body: hello(owner) + tp.sentence(p, alt), after: -1})
		default:
			t.Difficulty = Hard
			newer := differentValues(r, tp, vals, q.value)
			t.Answer = newer[q.value]
			root := add(draft{from: sender, to: owner, subject: subject, body: hello(owner) + tp.sentence(p, vals), after: -1})
			updater := pick(r, append([]string{sender}, others...))
			add(draft{from: updater, to: owner, subject: "re: " + subject, body: hello(owner) + "update: " + tp.sentence(p, newer), after: root, gold: []int{k}})
		}
		tasks = append(tasks, t)
	}
	// Some mail the owner sent, and filler that names projects but holds no
	// fact (its words never include a topic word, so a search for a
	// project and a topic finds only facts).
	nfill := 4 + ntasks/2
	for range nfill {
		p, f := pick(r, Projects), pick(r, fillers)
		from, to := pick(r, others), owner
		if r.IntN(3) == 0 {
			from, to = owner, pick(r, others)
		}
		add(draft{from: from, to: to, subject: p + " " + f, body: hello(to) + fmt.Sprintf("the %s %s is ready. thanks, %s", p, f, from), after: -1})
	}
	// Order: a random permutation that keeps every reply after its root.
	order := r.Perm(len(drafts))
	pos := make([]int, len(drafts))
	for i, d := range order {
		pos[d] = i
	}
	for i, d := range drafts {
		if d.after >= 0 && pos[i] < pos[d.after] {
			pos[i], pos[d.after] = pos[d.after], pos[i]
		}
	}
	byPos := make([]int, len(drafts))
	for i, p := range pos {
		byPos[p] = i
	}
	// Dates: strictly increasing, one to three days apart.
	in := Inbox{ID: id, Owner: Addr(owner)}
	ids := make([]string, len(drafts))
	day := 0
	for k, i := range byPos {
		day += 1 + r.IntN(3)
		d := drafts[i]
		ids[i] = fmt.Sprintf("%s-m%03d", id, k)
		m := Message{
			ID: ids[i], Inbox: id, Date: startDate.AddDate(0, 0, day).Format(time.DateOnly),
			From: Addr(d.from), To: []string{Addr(d.to)}, Subject: d.subject, Body: d.body,
		}
		in.Messages = append(in.Messages, m)
	}
	for i, d := range drafts {
		if d.after >= 0 {
			in.Messages[pos[i]].ReplyTo = ids[d.after]
		}
		for _, k := range d.gold {
			tasks[k].MessageIDs = append(tasks[k].MessageIDs, ids[i])
		}
	}
	for k := range tasks {
		slices.Sort(tasks[k].MessageIDs)
	}
	return in, tasks
}

// differentValues draws values for tp whose asked value (index q) differs
// from vals[q].
func differentValues(r *rand.Rand, tp topic, vals []string, q int) []string {
	for {
		v := tp.values(r)
		if v[q] != vals[q] {
			return v
		}
	}
}
