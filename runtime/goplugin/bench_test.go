package goplugin_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/sdk"
)

// quiet keeps benchmark output to the figures.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The round trip of one reward call on a 2 KB trace: encode, gRPC to the
// process, decode and score there, back, decode. The goal is 150 µs.
func BenchmarkCall_Reward2KB(b *testing.B) {
	p := openHelper(b, "rewards", goplugin.Config{Logger: quiet, Config: map[string]string{"rewards": `[{"name": "exact_match", "weight": 1}]`}})
	req := sdk.RewardRequest{Expected: "42", Trace: trace2KB("42")}
	in, _ := json.Marshal(req)
	ctx := context.Background()
	b.Run("typed", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			r, err := p.Reward(ctx, req)
			if err != nil || r.Score != 1 {
				b.Fatal(r, err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := p.Call(ctx, sdk.RewardFunction, in); err != nil {
				b.Fatal(err)
			}
		}
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

// Open is a process start, the handshake, Info and, in Close, the stop.
func BenchmarkOpen(b *testing.B) {
	cfg := helperConfig(b, "tools")
	cfg.Logger = quiet
	for b.Loop() {
		p, err := goplugin.Open(context.Background(), os.Args[0], cfg)
		if err != nil {
			b.Fatal(err)
		}
		p.Close(context.Background())
	}
}

// The transport alone: a tool call with a few bytes each way.
func BenchmarkCall_Tiny(b *testing.B) {
	p := openHelper(b, "tools", goplugin.Config{Logger: quiet})
	in := []byte(`{"name":"echo","arguments":{"text":"hi"}}`)
	for b.Loop() {
		if _, err := p.Call(context.Background(), sdk.ToolFunction, in); err != nil {
			b.Fatal(err)
		}
	}
}
