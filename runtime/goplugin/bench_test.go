package goplugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/sdk"
)

// quiet keeps benchmark output to the figures.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The round trip of one reward call on a 2 KB trace: encode, gRPC to the
// process, decode and score there, back, decode. The goal is 150 µs.
// "typed" is what the coach calls (Reward: the host encodes the request and
// decodes the response), "raw" sends ready JSON (Call).
func BenchmarkCall_Reward2KB(b *testing.B) {
	p := openHelper(b, "rewards", goplugin.Config{Logger: quiet, Config: map[string]string{"rewards": `[{"name": "exact_match", "weight": 1}]`}})
	req := sdk.RewardRequest{Expected: "42", Trace: trace2KB("42")}
	in, _ := json.Marshal(req)
	ctx := context.Background()
	b.Run("typed", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		timeCalls(b, func() error {
			r, err := p.Reward(ctx, req)
			if err == nil && r.Score != 1 {
				err = fmt.Errorf("score %v, want 1", r.Score)
			}
			return err
		})
	})
	b.Run("raw", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		timeCalls(b, func() error {
			_, err := p.Call(ctx, sdk.RewardFunction, in)
			return err
		})
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Call(ctx, sdk.RewardFunction, in); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// Open is a process start, the handshake, Info and, in Close, the stop;
// "host-functions" adds the Host service on a broker connection, dialed by
// the plugin during Info.
func BenchmarkOpen(b *testing.B) {
	plain := helperConfig(b, "tools")
	plain.Logger = quiet
	host := helperConfig(b, "hostfns")
	host.Logger = quiet
	host.Env = append(host.Env, askEnv+"="+sdk.PermissionLLM)
	host.Grant.HostFunctions = []string{sdk.PermissionLLM}
	for _, bb := range []struct {
		name string
		cfg  goplugin.Config
	}{{"plain", plain}, {"host-functions", host}} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				p, err := goplugin.Open(context.Background(), os.Args[0], bb.cfg)
				if err != nil {
					b.Fatal(err)
				}
				p.Close(context.Background())
			}
		})
	}
}

// The transport alone: a tool call with a few bytes each way.
func BenchmarkCall_Tiny(b *testing.B) {
	p := openHelper(b, "tools", goplugin.Config{Logger: quiet})
	in := []byte(`{"name":"echo","arguments":{"text":"hi"}}`)
	timeCalls(b, func() error {
		_, err := p.Call(context.Background(), sdk.ToolFunction, in)
		return err
	})
}

// timeCalls runs call b.N times and reports the median and 99th
// percentile of its duration.
func timeCalls(b *testing.B, call func() error) {
	var d []time.Duration
	for b.Loop() {
		start := time.Now()
		err := call()
		d = append(d, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	reportPercentiles(b, d)
}

// reportPercentiles adds the median and 99th percentile of the calls.
func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	p := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Nanoseconds()) }
	b.ReportMetric(p(0.50), "p50-ns")
	b.ReportMetric(p(0.99), "p99-ns")
}

// A tool call whose plugin asks the host's LLM once: two round trips, the
// call and the host call on the broker connection.
func BenchmarkHostLLM(b *testing.B) {
	cfg := goplugin.Config{Logger: quiet, Env: []string{askEnv + "=" + sdk.PermissionLLM}, Grant: contract.Permissions{HostFunctions: []string{sdk.PermissionLLM}},
		LLM: sdk.LLMFunc(func(context.Context, sdk.LLMRequest) (sdk.LLMResponse, error) {
			return sdk.LLMResponse{Text: "ok"}, nil
		})}
	p := openHelper(b, "hostfns", cfg)
	in := []byte(`{"name":"llm","arguments":{"text":"hi"}}`)
	timeCalls(b, func() error {
		_, err := p.Call(context.Background(), sdk.ToolFunction, in)
		return err
	})
}
