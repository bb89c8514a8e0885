package tokenizer

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchText is a few hundred KB of mixed English and code: the Go
// specification (English prose with code in HTML) when the Go distribution
// has it, else the embedded corpus repeated.
var benchText = func() string {
	if data, err := os.ReadFile(filepath.Join(build.Default.GOROOT, "doc", "go_spec.html")); err == nil && len(data) > 100000 {
		return string(data)
	}
	return strings.Repeat(corpus, 60)
}()

func BenchmarkEncode(b *testing.B) {
	for _, name := range refNames {
		tok := refTokenizer(b, name)
		for _, cached := range []bool{true, false} {
			mode := "cached"
			if !cached {
				mode = "nocache"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				tok.model.noCache = !cached
				defer func() { tok.model.noCache = false }()
				b.SetBytes(int64(len(benchText)))
				for b.Loop() {
					tok.Encode(benchText)
				}
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	tok := refTokenizer(b, "llama3")
	ids := tok.Encode(benchText)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tok.Decode(ids)
	}
}

func BenchmarkLoad(b *testing.B) {
	for _, name := range refNames {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Load(filepath.Join(refDir, name)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNewByteLevel(b *testing.B) {
	for b.Loop() {
		if _, err := NewByteLevel(512, nil); err != nil {
			b.Fatal(err)
		}
	}
}
