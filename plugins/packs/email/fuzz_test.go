package email_test

import (
	"context"
	"errors"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/packs/email"
)

// FuzzSearch feeds arbitrary keywords and filters to the search: the only
// error is ErrBadQuery, and nothing of another inbox ever comes back.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{"orion", `" OR 1=1 --`, `secret OR orion`, "NEAR(a b)", `''`, "a\"b", "body:secret", "*", "x\x00y"} {
		f.Add(s, s)
	}
	s, err := email.NewStore(context.Background(), fixture)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, kw, filter string) {
		for _, q := range []email.Query{{Keywords: []string{kw}}, {Keywords: []string{"orion", kw}}, {From: filter, To: filter}, {SentAfter: filter}} {
			hits, err := s.Search(context.Background(), "A", q)
			if err != nil {
				if !errors.Is(err, email.ErrBadQuery) {
					t.Fatalf("%+v: %v", q, err)
				}
				continue
			}
			for _, h := range hits {
				if h.ID == "b1" {
					t.Fatalf("%+v reached inbox B", q)
				}
			}
		}
	})
}
