package bench

import (
	"testing"

	"github.com/toolbrain/toolbrain/core/model"
)

func TestForwardFLOPs(t *testing.T) {
	tiny := model.BenchConfig()
	tiny.HiddenSize, tiny.IntermediateSize, tiny.NumAttentionHeads, tiny.NumKeyValueHeads = 4, 8, 2, 2
	tiny.NumHiddenLayers, tiny.VocabSize, tiny.HeadDim = 1, 10, 0
	tests := []struct {
		name               string
		batch, tokens, ctx int
		want               float64
	}{
		// q, k, v, o: 4 × 2·4·4; gate, up, down: 3 × 2·4·8; attention
		// 4·ctx·2·2; LM head 2·4·10.
		{name: "one token, ctx 3", batch: 1, tokens: 1, ctx: 3, want: 128 + 192 + 48 + 80},
		{name: "batch and tokens", batch: 2, tokens: 3, ctx: 3, want: 6 * (128 + 192 + 48 + 80)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ForwardFLOPs(tiny, tt.batch, tt.tokens, tt.ctx); got != tt.want {
				t.Errorf("ForwardFLOPs = %v, want %v", got, tt.want)
			}
		})
	}
	if got, want := TrainFLOPs(tiny, 1, 3), 3*ForwardFLOPs(tiny, 1, 3, 3); got != want {
		t.Errorf("TrainFLOPs = %v, want %v", got, want)
	}
}
