package serve_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/core/serve"
	"github.com/toolbrain/toolbrain/sdk"
)

// BenchmarkServe measures aggregate tokens/s and the mean time to the
// (whole) answer with 1, 4 and 16 concurrent clients on the tiny model.
// Stop tokens are off, so every answer is exactly benchTokens tokens.
//
//	go test ./core/serve -run '^$' -bench Serve -benchtime 2x
func BenchmarkServe(b *testing.B) {
	const benchTokens = 16
	tiny := openTiny(b)
	for _, clients := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			cfg := tiny.cfg
			cfg.MaxTokens, cfg.StopTokenIDs, cfg.Rows = benchTokens, []int32{}, clients
			url := start(b, cfg, serve.Config{MaxQueue: clients})
			c, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: url, Model: "tiny", MaxTokens: benchTokens, MaxRetries: -1})
			if err != nil {
				b.Fatal(err)
			}
			var latency time.Duration
			var mu sync.Mutex
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				var wg sync.WaitGroup
				for k := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						t0 := time.Now()
						q := sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: fmt.Sprintf("question %d", k)}}}
						if _, err := c.Complete(context.Background(), q); err != nil {
							b.Error(err)
						}
						mu.Lock()
						latency += time.Since(t0)
						mu.Unlock()
					}()
				}
				wg.Wait()
			}
			el := time.Since(start)
			b.ReportMetric(float64(b.N*clients*benchTokens)/el.Seconds(), "tokens/s")
			b.ReportMetric(latency.Seconds()*1000/float64(b.N*clients), "ms/answer")
		})
	}
}
