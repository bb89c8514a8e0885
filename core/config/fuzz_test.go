package config

import (
	"errors"
	"testing"
)

// FuzzParse checks that any input either decodes to a valid Config or
// fails with ErrInvalid: never a panic, never an unwrapped error.
func FuzzParse(f *testing.F) {
	f.Add(DefaultTOML)
	f.Add("[core]\nbackend = \"xla:cuda\"\n")
	f.Add("[[rewards]]\nname = \"token_f1\"\n[[rewards]]\nweight = 2.0\n")
	f.Add("[plugins.limits]\ntimeout = \"1s\"\nmemory_pages = 70000\n")
	f.Add("[generate]\nstop = [\"\", \"x\"]\n")
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := Parse("fuzz.toml", src)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
	})
}
