package wire

import (
	"testing"

	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/sdk"
)

// TestAllDeclare: a tool-calling athlete may go without packs only when
// every task, training and held-out, declares its tools.
func TestAllDeclare(t *testing.T) {
	decl := sdk.Task{ID: "d", Metadata: map[string]string{coach.MetaTools: `[{"name": "f"}]`}}
	plain := sdk.Task{ID: "p", Metadata: map[string]string{"inbox": "ib00"}}
	for _, tc := range []struct {
		name        string
		train, eval []sdk.Task
		want        bool
	}{
		{"all declare", []sdk.Task{decl, decl}, []sdk.Task{decl}, true},
		{"a training task does not", []sdk.Task{decl, plain}, []sdk.Task{decl}, false},
		{"a held-out task does not", []sdk.Task{decl}, []sdk.Task{plain}, false},
		{"no metadata", []sdk.Task{{ID: "x"}}, nil, false},
		{"no tasks", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := allDeclare(tc.train, tc.eval); got != tc.want {
				t.Errorf("allDeclare = %v, want %v", got, tc.want)
			}
		})
	}
}
