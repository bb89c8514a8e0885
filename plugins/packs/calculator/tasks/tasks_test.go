package tasks

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestGenerate_Deterministic(t *testing.T) {
	a, b := Generate(3, 50), Generate(3, 50)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different tasks")
	}
	if reflect.DeepEqual(a, Generate(4, 50)) {
		t.Fatal("different seeds gave the same tasks")
	}
}

// TestExpert_Answers checks every generated task's expert reply against its
// gold answer by evaluating the call it writes.
func TestExpert_Answers(t *testing.T) {
	for _, task := range Generate(1, 300) {
		reply, err := ExpertReply(task)
		if err != nil {
			t.Fatal(err)
		}
		var op string
		var a, b int
		body := strings.TrimSuffix(strings.TrimPrefix(reply, "```python\nfinal_answer(arith("), "))\n```")
		for _, kv := range strings.Split(body, ", ") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "op":
				op, _ = strconv.Unquote(v)
			case "a":
				a, _ = strconv.Atoi(v)
			case "b":
				b, _ = strconv.Atoi(v)
			}
		}
		got := map[string]int{"add": a + b, "sub": a - b, "mul": a * b}[op]
		if strconv.Itoa(got) != task.Expected {
			t.Fatalf("task %q: the expert computes %d, gold %s (reply %q)", task.Prompt, got, task.Expected, reply)
		}
	}
}
