//go:build perf

package bench

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/toolbrain/toolbrain/core/model"
)

// TestPerf_BenchShape checks the goal on the benchmark shape: a
// full training step costs at most 3.5 forward passes and the process
// stays under 1 GB resident. Timing on a shared machine, hence the tag:
//
//	go test -tags perf -run Perf -v ./core/train/bench
//
// TOOLBRAIN_PERF_STOCK=1 also runs one step with gomlx's stock gradient
// for comparison (slow, several GB).
func TestPerf_BenchShape(t *testing.T) {
	b := goBackend(t)
	cfg := model.BenchConfig()
	fwd, err := model.BenchForward(context.Background(), b, cfg, 8, 64, 10, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(fwd)
	t.Logf("%s", line)
	runs := []Options{{}, {LoRARank: 8}, {LoRARank: 8, QLoRA: true}}
	if os.Getenv("TOOLBRAIN_PERF_STOCK") != "" {
		runs = append(runs, Options{StockGradients: true})
	}
	for _, o := range runs {
		steps := 10
		if o.StockGradients {
			steps = 1
		}
		r, err := Train(context.Background(), b, cfg, 8, 64, steps, o)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := json.Marshal(r)
		t.Logf("%s", line)
		if o.StockGradients {
			continue
		}
		if o.LoRARank == 0 && r.StepOverForward > 3.5 {
			t.Errorf("full step = %.2f× forward, want ≤ 3.5", r.StepOverForward)
		}
		if r.PeakRSSBytes >= 1<<30 {
			t.Errorf("%s: peak RSS %d MB, want < 1 GB", r.Mode, r.PeakRSSBytes>>20)
		}
	}
}
