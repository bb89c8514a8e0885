package bfcl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/toolbrain/toolbrain/core/agent"
)

// Verdict is the checker's result for one response.
type Verdict struct {
	ID        string `json:"id"`
	Valid     bool   `json:"valid"`
	ErrorType string `json:"error_type"`
}

// CategoryScore is one category's accuracy.
type CategoryScore struct {
	Category string  `json:"category"`
	Correct  int     `json:"correct"`
	Total    int     `json:"total"`
	Accuracy float64 `json:"accuracy"`
}

// Summary is BFCL's summary: per-category and overall accuracy (the
// overall one is over all cases).
type Summary struct {
	Categories []CategoryScore `json:"categories"`
	Overall    CategoryScore   `json:"overall"`
}

// Summarize tallies verdicts by the category of their ids.
func Summarize(verdicts []Verdict) Summary {
	idx := map[string]int{}
	var s Summary
	for _, v := range verdicts {
		cat := CategoryOf(v.ID)
		i, ok := idx[cat]
		if !ok {
			i = len(s.Categories)
			idx[cat] = i
			s.Categories = append(s.Categories, CategoryScore{Category: cat})
		}
		s.Categories[i].Total++
		s.Overall.Total++
		if v.Valid {
			s.Categories[i].Correct++
			s.Overall.Correct++
		}
	}
	s.Overall.Category = "overall"
	for i := range s.Categories {
		s.Categories[i].Accuracy = ratio(s.Categories[i].Correct, s.Categories[i].Total)
	}
	s.Overall.Accuracy = ratio(s.Overall.Correct, s.Overall.Total)
	return s
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// CallsFromText parses a model's raw text with the athletes' tool-call parser
// into BFCL's [{name: {args}}] form. A parse error yields no calls, which
// BFCL's decoder treats the same way.
func CallsFromText(format agent.ToolFormat, text string) []Value {
	calls, err := agent.ParseToolCalls(format, text)
	if err != nil {
		return nil
	}
	out, bad := callValues(calls)
	if bad {
		return nil
	}
	return out
}

// ScoreResponses reads JSON lines {"id", "calls"} or {"id", "text"} and
// returns one verdict per line in input order. Ids must name cases.
func ScoreResponses(r io.Reader, cases map[string]Case, format agent.ToolFormat) ([]Verdict, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	var out []Verdict
	n := 0
	for sc.Scan() {
		n++
		var line struct {
			ID    string  `json:"id"`
			Calls *Value  `json:"calls"`
			Text  *string `json:"text"`
		}
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("responses line %d: %w", n, err)
		}
		c, ok := cases[line.ID]
		if !ok {
			return nil, fmt.Errorf("responses line %d: unknown id %q", n, line.ID)
		}
		var calls []Value
		switch {
		case line.Calls != nil:
			if line.Calls.Kind != List {
				return nil, fmt.Errorf("responses line %d: \"calls\" must be a list", n)
			}
			calls = line.Calls.L
		case line.Text != nil:
			calls = CallsFromText(format, *line.Text)
		default:
			return nil, fmt.Errorf("responses line %d: needs \"calls\" or \"text\"", n)
		}
		res := CheckCase(c, calls)
		out = append(out, Verdict{ID: line.ID, Valid: res.Valid, ErrorType: res.ErrorType})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("responses: %w", err)
	}
	return out, nil
}
