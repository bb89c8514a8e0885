package bfcl

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
)

// Embedded holds BFCL v4's five non-live AST categories and their possible
// answers (Apache-2.0, data/LICENSE), in BFCL's own layout.
//
//go:embed data
var embedded embed.FS

// Data returns the embedded BFCL data as a file system rooted at its data
// directory (BFCL_v4_<category>.json and possible_answer/).
func Data() fs.FS {
	sub, err := fs.Sub(embedded, "data")
	if err != nil {
		panic(err) // the embedded tree always has data/
	}
	return sub
}

// Categories are the categories this package scores.
var Categories = []string{"simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"}

// Case is one BFCL test case: its functions, question and possible answers
// (none for irrelevance).
type Case struct {
	ID       string  `json:"id"`
	Category string  `json:"-"`
	Question Value   `json:"question"`
	Function []Value `json:"function"`
	Answers  []Value `json:"-"`
}

// Load reads one category's cases (and their possible answers) from a BFCL
// data directory such as Data() or a checkout's bfcl_eval/data.
func Load(fsys fs.FS, category string) ([]Case, error) {
	name := "BFCL_v4_" + category + ".json"
	var cases []Case
	if err := readLines(fsys, name, func(line []byte) error {
		var c Case
		if err := json.Unmarshal(line, &c); err != nil {
			return err
		}
		c.Category = category
		cases = append(cases, c)
		return nil
	}); err != nil {
		return nil, err
	}
	if category == "irrelevance" {
		return cases, nil
	}
	byID := make(map[string]int, len(cases))
	for i, c := range cases {
		byID[c.ID] = i
	}
	err := readLines(fsys, "possible_answer/"+name, func(line []byte) error {
		var a struct {
			ID          string  `json:"id"`
			GroundTruth []Value `json:"ground_truth"`
		}
		if err := json.Unmarshal(line, &a); err != nil {
			return err
		}
		i, ok := byID[a.ID]
		if !ok {
			return fmt.Errorf("possible answer for unknown id %q", a.ID)
		}
		cases[i].Answers = a.GroundTruth
		return nil
	})
	return cases, err
}

func readLines(fsys fs.FS, name string, each func([]byte) error) error {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("bfcl: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	n := 0
	for sc.Scan() {
		n++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if err := each(sc.Bytes()); err != nil {
			return fmt.Errorf("bfcl: %s line %d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("bfcl: %s: %w", name, err)
	}
	return nil
}

// CategoryOf is the category of a case id such as "parallel_multiple_12".
func CategoryOf(id string) string {
	i := strings.LastIndexByte(id, '_')
	if i < 0 {
		return ""
	}
	return id[:i]
}

// CheckCase scores candidate calls for a case under its category's rule.
func CheckCase(c Case, candidate []Value) Result {
	if c.Category == "irrelevance" {
		return CheckIrrelevance(candidate)
	}
	return Check(c.Function, candidate, c.Answers, c.Category)
}
