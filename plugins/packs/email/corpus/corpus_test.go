package corpus_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
)

func TestGenerate_Deterministic(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	for _, d := range dirs {
		c, err := corpus.Generate(corpus.Options{Seed: 7, Inboxes: 4, TasksPerInbox: 10})
		if err != nil {
			t.Fatal(err)
		}
		if err := corpus.Write(c, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{corpus.MessagesFile, corpus.TrainFile, corpus.TestFile} {
		a, err := os.ReadFile(filepath.Join(dirs[0], f))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dirs[1], f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs of seed 7 (%d and %d bytes)", f, len(a), len(b))
		}
	}
	other, _ := corpus.Generate(corpus.Options{Seed: 8, Inboxes: 4, TasksPerInbox: 10})
	var b bytes.Buffer
	corpus.WriteJSONL(&b, other.Train)
	a, _ := os.ReadFile(filepath.Join(dirs[0], corpus.TrainFile))
	if bytes.Equal(a, b.Bytes()) {
		t.Error("seeds 7 and 8 gave the same tasks")
	}
}

func TestGenerate_Invariants(t *testing.T) {
	c, err := corpus.Generate(corpus.Options{Seed: 1, Inboxes: 8, TasksPerInbox: 48})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]corpus.Message{}
	for _, in := range c.Inboxes {
		last := ""
		for _, m := range in.Messages {
			if m.Date <= last {
				t.Fatalf("%s: date %s not after %s", m.ID, m.Date, last)
			}
			last = m.Date
			byID[m.ID] = m
		}
	}
	trainInboxes, testInboxes := map[string]bool{}, map[string]bool{}
	for _, tk := range c.Train {
		trainInboxes[tk.Inbox] = true
	}
	for _, tk := range c.Test {
		testInboxes[tk.Inbox] = true
		if trainInboxes[tk.Inbox] {
			t.Errorf("inbox %s is in both splits", tk.Inbox)
		}
	}
	if len(trainInboxes) != 6 || len(testInboxes) != 2 {
		t.Errorf("split %d/%d inboxes, want 6/2", len(trainInboxes), len(testInboxes))
	}
	diffs := map[string]int{}
	for _, tk := range append(c.Train, c.Test...) {
		diffs[tk.Difficulty]++
		if len(tk.MessageIDs) != 1 {
			t.Fatalf("%s: message ids %v", tk.ID, tk.MessageIDs)
		}
		m, ok := byID[tk.MessageIDs[0]]
		if !ok || m.Inbox != tk.Inbox {
			t.Fatalf("%s: gold %s not in inbox %s", tk.ID, tk.MessageIDs[0], tk.Inbox)
		}
		if !strings.Contains(m.Body, " "+tk.Answer+" ") && !strings.Contains(m.Body, " "+tk.Answer+".") {
			t.Errorf("%s: answer %q not in gold body %q", tk.ID, tk.Answer, m.Body)
		}
		if tk.Difficulty == corpus.Medium && m.From != corpus.Addr(tk.From) {
			t.Errorf("%s: gold from %s, task names %s", tk.ID, m.From, tk.From)
		}
	}
	for _, d := range []string{corpus.Easy, corpus.Medium, corpus.Hard} {
		if diffs[d] == 0 {
			t.Errorf("no %s task", d)
		}
	}
}

func TestRead_RoundTrip(t *testing.T) {
	c, _ := corpus.Generate(corpus.Options{Seed: 3, Inboxes: 2, TasksPerInbox: 3})
	dir := t.TempDir()
	if err := corpus.Write(c, dir); err != nil {
		t.Fatal(err)
	}
	got, err := corpus.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Inboxes) != 2 || len(got.Train) != 3 || len(got.Test) != 3 {
		t.Fatalf("read %d inboxes, %d/%d tasks", len(got.Inboxes), len(got.Train), len(got.Test))
	}
	if got.Inboxes[1].Messages[0].Body != c.Inboxes[1].Messages[0].Body {
		t.Error("bodies differ after a round trip")
	}
}

func TestGenerate_Errors(t *testing.T) {
	tests := []struct {
		name string
		opts corpus.Options
	}{
		{name: "too many tasks", opts: corpus.Options{TasksPerInbox: 49}},
		{name: "negative inboxes", opts: corpus.Options{Inboxes: -1}},
		{name: "all held out", opts: corpus.Options{Inboxes: 4, TestInboxes: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := corpus.Generate(tt.opts); !errors.Is(err, corpus.ErrBadOptions) {
				t.Errorf("err = %v, want ErrBadOptions", err)
			}
		})
	}
}

func TestRead_Errors(t *testing.T) {
	tests := []struct {
		name, file, content, want string
	}{
		{name: "unknown field", file: corpus.TrainFile, content: `{"id":"a","inbox":"b","extra":1}`, want: "train.jsonl:1"},
		{name: "duplicate message", file: corpus.MessagesFile, content: "{\"id\":\"m\",\"inbox\":\"i\"}\n{\"id\":\"m\",\"inbox\":\"i\"}", want: "twice"},
		{name: "no inbox", file: corpus.TestFile, content: `{"id":"a"}`, want: "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{corpus.MessagesFile, corpus.TrainFile, corpus.TestFile} {
				os.WriteFile(filepath.Join(dir, f), nil, 0o644)
			}
			os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o644)
			_, err := corpus.Read(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite testdata/golden.sha256")

// TestGenerate_Golden pins the bytes of the seed-1 corpus: the same seed
// must give the same data across machines and Go releases.
func TestGenerate_Golden(t *testing.T) {
	c, err := corpus.Generate(corpus.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := corpus.Write(c, dir); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range []string{corpus.MessagesFile, corpus.TrainFile, corpus.TestFile} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(data), f)
	}
	golden := filepath.Join("testdata", "golden.sha256")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("the seed-1 corpus changed (run go test -update if intended):\n%s", b.String())
	}
}
