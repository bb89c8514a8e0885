package bfcl

import (
	"context"
	"testing"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/model"
)

// BenchmarkGenerate is `eval bfcl --model` on the email agent's small base
// (0.9 M parameters, cpu backend): 16 simple_python cases, 32 new tokens
// each, batched 1 and 8 at a time; cases/s is the figure.
func BenchmarkGenerate(b *testing.B) {
	ck, tok, tmpl := openBase(b)
	be, err := backend.New("cpu")
	if err != nil {
		b.Fatal(err)
	}
	m, err := ck.LoadModel(be, model.LoadOptions{}, "")
	if err != nil {
		b.Fatal(err)
	}
	cases, err := Load(Data(), "simple_python")
	if err != nil {
		b.Fatal(err)
	}
	cases = cases[:16]
	for _, batch := range []int{1, 8} {
		b.Run("batch"+map[int]string{1: "1", 8: "8"}[batch], func(b *testing.B) {
			opts := GenerateOptions{Batch: batch, Sampling: generate.Options{MaxNewTokens: 32, MaxLen: ck.Config.MaxPositionEmbeddings}}
			for b.Loop() {
				if _, err := Generate(context.Background(), m, tok, tmpl, cases, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(cases)*b.N)/b.Elapsed().Seconds(), "cases/s")
		})
	}
}
