package tokenizer

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites text before pre-tokenization.
type normalizer func(string) string

func normForm(f norm.Form) normalizer { return f.String }

func lowercase(s string) string { return strings.ToLower(s) }

func chainNormalizers(ns []normalizer) normalizer {
	return func(s string) string {
		for _, n := range ns {
			s = n(s)
		}
		return s
	}
}
