package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

const refDir = "../../testdata/models"

// testBackend is the pure-Go backend with sequential op scheduling, which
// cannot deadlock on 2 cores.
func testBackend(tb testing.TB) backends.Backend {
	tb.Helper()
	b, err := simplego.New("ops_sequential")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type refCase struct {
	IDs            []int32     `json:"ids"`
	Logits         [][]float64 `json:"logits"`
	LogitsWithLoRA [][]float64 `json:"logits_with_lora"`
}

func loadRef(tb testing.TB, model string) []refCase {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(refDir, model, "reference_logits.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var ref struct {
		Cases []refCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		tb.Fatal(err)
	}
	return ref.Cases
}

// maxDiff returns the largest |got-want| over all positions and the
// position (t, v) where it occurs.
func maxDiff(tb testing.TB, got [][]float32, want [][]float64) (float64, int, int) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d positions, want %d", len(got), len(want))
	}
	worst, wt, wv := 0.0, 0, 0
	for t := range want {
		if len(got[t]) != len(want[t]) {
			tb.Fatalf("position %d: got %d logits, want %d", t, len(got[t]), len(want[t]))
		}
		for v := range want[t] {
			d := math.Abs(float64(got[t][v]) - want[t][v])
			if math.IsNaN(d) || d > worst {
				worst, wt, wv = d, t, v
			}
		}
	}
	return worst, wt, wv
}
