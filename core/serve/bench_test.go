package serve_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/serve"
)

// BenchmarkServe measures aggregate tokens/s, the mean time to the first
// content token and the mean time to the whole answer with 1, 4 and 16
// concurrent streaming clients on the tiny model, the engine's rows = the
// client count (one running batch), after one round that compiles the
// graphs. Stop tokens are off, so every answer
// is exactly benchTokens tokens.
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
			var first, whole time.Duration
			var mu sync.Mutex
			round := func() {
				var wg sync.WaitGroup
				for k := range clients {
					wg.Go(func() {
						f, w, err := streamTimes(url, fmt.Sprintf(`{"messages":[{"role":"user","content":"question %d"}],"stream":true}`, k))
						if err != nil {
							b.Error(err)
						}
						mu.Lock()
						first += f
						whole += w
						mu.Unlock()
					})
				}
				wg.Wait()
			}
			round() // compiles the graphs of every shape the rounds use
			first, whole = 0, 0
			b.ResetTimer()
			t0 := time.Now()
			for range b.N {
				round()
			}
			el := time.Since(t0)
			n := float64(b.N * clients)
			b.ReportMetric(n*benchTokens/el.Seconds(), "tokens/s")
			b.ReportMetric(first.Seconds()*1000/n, "ms-to-first-token")
			b.ReportMetric(whole.Seconds()*1000/n, "ms/answer")
		})
	}
}

// streamTimes posts a streamed request and returns the time to the first
// content delta and to the end of the stream.
func streamTimes(url, body string) (first, whole time.Duration, err error) {
	t0 := time.Now()
	resp, err := http.Post(url+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if first == 0 && strings.Contains(sc.Text(), `"content":"`) && !strings.Contains(sc.Text(), `"content":""`) {
			first = time.Since(t0)
		}
	}
	return first, time.Since(t0), sc.Err()
}
