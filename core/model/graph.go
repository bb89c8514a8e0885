package model

import (
	"math"
	"runtime"
	"slices"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/toolbrain/toolbrain/core/lora"
)

// Linear is one projection y = x·Wᵀ + b + scale·(x·Aᵀ)·Bᵀ, all as graph
// nodes, so the same forward serves inference (W from device tensors) and
// training (A and B from trainable variables).
type Linear struct {
	// W is [out, in], the Hugging Face layout. Quantized checkpoints
	// dequantize into this node inside the graph.
	W *Node
	// WScale, when set, multiplies x·Wᵀ per output ([out]): int8 weights
	// enter as their codes, with the row scales applied to the product.
	WScale *Node
	// B is the [out] bias, or nil.
	B *Node
	// LoRAA [r, in], LoRAB [out, r] and the scalar LoRAScale are the
	// unmerged adapter, or all nil.
	LoRAA, LoRAB, LoRAScale *Node
	// LoRADropout, when set, is applied to the input of the LoRA branch
	// only (PEFT's lora_dropout during training); nil at inference.
	LoRADropout func(x *Node) *Node
}

// Layer holds one decoder block's weights.
type Layer struct {
	InputNorm, PostAttentionNorm *Node // [hidden]
	Q, K, V, O                   Linear
	Gate, Up, Down               Linear
}

// Linear returns the projection of l named module (one of lora.Modules),
// or false for another name.
func (l *Layer) Linear(module string) (*Linear, bool) {
	for i, lin := range []*Linear{&l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down} {
		if lora.Modules[i] == module {
			return lin, true
		}
	}
	return nil, false
}

// Weights is the whole decoder as graph nodes.
type Weights struct {
	Embed  *Node // [vocab, hidden]
	Layers []Layer
	Norm   *Node // [hidden]
	// LMHead is [vocab, hidden], or nil when the embeddings are tied.
	LMHead *Node
}

// Apply computes x·Wᵀ (+b) (+LoRA) over the last axis of x.
func (l Linear) Apply(x *Node) *Node {
	y := matmulT(x, l.W)
	if l.WScale != nil {
		y = Mul(y, ExpandLeftToRank(l.WScale, y.Rank()))
	}
	return l.extras(x, y)
}

// matmulT is x·wᵀ over the last axis of x, for w [out, in].
//
// Contracting x's last axis with w's axis 1 keeps w in its stored [out, in]
// layout, which is already the [cross, contract] form the pure-Go
// DotGeneral wants, so no transposed copy of w is made per call.
//
// # Why small products are split
//
// Decode steps multiply a few rows by each weight. gomlx's pure-Go backend
// runs such small products (lhs rows × out ≤ 16 blocks of 64×64) with a
// kernel that parallelises only over the batch axis, so on one core. Viewing
// w as [p, out/p, in] (free: contiguous) and x as p copies (a few rows)
// gives the product a batch axis of p that the backend spreads over p
// workers; the result is transposed back, again only a few rows. On 2 cores
// this cut decode steps by 25-30% at batch 1 to 8. Large products are left
// alone. Other backends get the plain product: "cpu" splits a few rows'
// product over its workers itself, and the split's copies cost it 6-8% of
// a decode step.
func matmulT(x, w *Node) *Node {
	if _, pureGo := x.Graph().Backend().(*simplego.Backend); !pureGo {
		return DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{1}, nil)
	}
	out, in := w.Shape().Dimensions[0], w.Shape().Dimensions[1]
	rows := x.Shape().Size() / in
	p, limit := splitWays, smallDotLimit
	if rows <= maxDecodeRows {
		// Large weights (an LM head of 150k rows) with a few rows of x:
		// more parts, each under the simple kernel's limit, because the
		// blocked kernel would copy the whole weight into blocks on every
		// call (545 MB per token for Qwen2.5-0.5B's head).
		for rows*out > smallDotLimit*p && out%(2*p) == 0 {
			p *= 2
		}
	}
	for p > 1 && out%p != 0 {
		p /= 2
	}
	if rows <= maxDecodeRows {
		limit = smallDotLimit * p // each part under the limit
	}
	if p <= 1 || rows*out > limit {
		return DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{1}, nil)
	}
	lead := x.Shape().Dimensions[:x.Rank()-1]
	xs := BroadcastToDims(Reshape(x, 1, rows, in), p, rows, in)
	y := DotGeneral(xs, []int{2}, []int{0}, Reshape(w, p, out/p, in), []int{2}, []int{0}) // [p, rows, out/p]
	y = TransposeAllAxes(y, 1, 0, 2)
	return Reshape(y, append(slices.Clone(lead), out)...)
}

// maxDecodeRows is the most rows of x for which a large weight is split
// into parts for the simple kernel rather than copied into blocks.
const maxDecodeRows = 8

// smallDotLimit is gomlx's pure-Go threshold between its simple and its
// blocked DotGeneral kernels (lhs cross × rhs cross, in elements): 16
// blocks of the float32 block size, 32×32 in gomlx v0.26.
var smallDotLimit = func() int {
	d := 1 << simplego.DotGeneralTargetBlockLog2Dim[dtypes.Float32]
	return 16 * d * d
}()

// splitWays is how many workers a small product is split over: the CPUs
// Go may use, rounded down to a power of two, at most 8.
var splitWays = func() int {
	p := 1
	for p*2 <= min(runtime.GOMAXPROCS(0), 8) {
		p *= 2
	}
	return p
}()

// extras adds the bias and the LoRA term to y = x·Wᵀ.
func (l Linear) extras(x, y *Node) *Node {
	if l.B != nil {
		y = Add(y, ExpandLeftToRank(l.B, y.Rank()))
	}
	if l.LoRAA != nil {
		if l.LoRADropout != nil {
			x = l.LoRADropout(x)
		}
		a := DotGeneral(x, []int{x.Rank() - 1}, nil, l.LoRAA, []int{1}, nil)
		ab := DotGeneral(a, []int{a.Rank() - 1}, nil, l.LoRAB, []int{1}, nil)
		y = Add(y, Mul(ab, l.LoRAScale))
	}
	return y
}

// rmsNorm is x·rsqrt(mean(x²)+eps)·w over the last axis.
func rmsNorm(x, w *Node, eps float64) *Node {
	ms := ReduceAndKeep(Square(x), ReduceMean, -1)
	return Mul(Mul(x, Rsqrt(AddScalar(ms, eps))), ExpandLeftToRank(w, x.Rank()))
}

// ropeTables returns cos and sin shaped [B, T, 1, headDim] for integer
// positions [B, T], in Hugging Face's rotate-half layout (the two halves
// repeat the same frequencies).
func ropeTables(cfg Config, positions *Node) (cos, sin *Node) {
	g := positions.Graph()
	hd := cfg.HeadDimension()
	inv := make([]float32, hd)
	for i := 0; i < hd/2; i++ {
		// Computed in float64 like the reference, then rounded once.
		f := float32(1 / math.Pow(cfg.RopeTheta, float64(2*i)/float64(hd)))
		inv[i], inv[i+hd/2] = f, f
	}
	pos := ConvertDType(positions, dtypes.Float32)
	ang := Mul(InsertAxes(pos, -1), Const(g, [][][]float32{{inv}})) // [B, T, hd]
	ang = InsertAxes(ang, 2)                                        // [B, T, 1, hd]
	return Cos(ang), Sin(ang)
}

// applyRoPE rotates x [B, T, heads, hd].
func applyRoPE(x, cos, sin *Node) *Node {
	hd := x.Shape().Dimensions[3]
	lo := SliceAxis(x, 3, AxisRange(0, hd/2))
	hi := SliceAxis(x, 3, AxisRange(hd/2, hd))
	rot := Concatenate([]*Node{Neg(hi), lo}, 3)
	return Add(Mul(x, cos), Mul(rot, sin))
}

// attend is grouped-query attention: q [B, T, H, hd] over keys
// [B, KV, S, hd] and values [B, KV, hd, S], with mask [B, T, S] (true = may
// attend). Returns [B, T, H·hd].
//
// # Why these layouts
//
// The pure-Go DotGeneral wants each operand as [batch…, cross…,
// contracting…] and otherwise makes a transposed copy first. Keys as
// [B, KV, S, hd] and values as [B, KV, hd, S] are already in that form for
// q·kᵀ and p·v, so the KV cache is read in place each decode step instead
// of being copied (which cost half the step time).
func attend(q, k, v, mask *Node) *Node {
	dims := q.Shape().Dimensions
	b, t, h, hd := dims[0], dims[1], dims[2], dims[3]
	kv := k.Shape().Dimensions[1]
	grp := h / kv
	// Query head j uses key head j / grp, as repeat_interleave does in
	// Hugging Face, so [H] splits as [KV, grp] without copying keys.
	q = Reshape(MulScalar(q, 1/math.Sqrt(float64(hd))), b, t, kv, grp, hd)
	q = TransposeAllAxes(q, 0, 2, 1, 3, 4)                                   // [B, KV, T, grp, hd]
	scores := DotGeneral(q, []int{4}, []int{0, 1}, k, []int{3}, []int{0, 1}) // [B, KV, T, grp, S]
	m := InsertAxes(InsertAxes(mask, 1), 3)                                  // [B, 1, T, 1, S]
	m = BroadcastToDims(m, scores.Shape().Dimensions...)
	scores = Where(m, scores, Infinity(q.Graph(), scores.DType(), -1))
	probs := Softmax(scores, -1)
	out := DotGeneral(probs, []int{4}, []int{0, 1}, v, []int{3}, []int{0, 1}) // [B, KV, T, grp, hd]
	out = TransposeAllAxes(out, 0, 2, 1, 3, 4)                                // [B, T, KV, grp, hd]
	return Reshape(out, b, t, h*hd)
}

// kvHook lets the caller place a layer's new keys and values [B, T, KV, hd]
// (keys already rotated) somewhere, and returns what the layer's queries
// attend to: keys [B, KV, S, hd], values [B, KV, hd, S] and mask [B, T, S].
type kvHook func(layer int, k, v *Node) (keys, values, mask *Node)

// decoder runs the embedding and every block; it returns the final-normed
// hidden states [B, T, hidden].
func decoder(cfg Config, w *Weights, ids, positions *Node, kv kvHook) *Node {
	dims := ids.Shape().Dimensions
	b, t := dims[0], dims[1]
	h, kvh, hd := cfg.NumAttentionHeads, cfg.KVHeads(), cfg.HeadDimension()
	x := Gather(w.Embed, InsertAxes(ids, -1)) // [B, T, hidden]
	cos, sin := ropeTables(cfg, positions)
	for i, l := range w.Layers {
		n := rmsNorm(x, l.InputNorm, cfg.RMSNormEps)
		q := Reshape(l.Q.Apply(n), b, t, h, hd)
		k := Reshape(l.K.Apply(n), b, t, kvh, hd)
		v := Reshape(l.V.Apply(n), b, t, kvh, hd)
		q, k = applyRoPE(q, cos, sin), applyRoPE(k, cos, sin)
		keys, values, mask := kv(i, k, v)
		x = Add(x, l.O.Apply(attend(q, keys, values, mask)))
		n = rmsNorm(x, l.PostAttentionNorm, cfg.RMSNormEps)
		gate := l.Gate.Apply(n)
		x = Add(x, l.Down.Apply(Mul(Mul(gate, Sigmoid(gate)), l.Up.Apply(n))))
	}
	return rmsNorm(x, w.Norm, cfg.RMSNormEps)
}

// Head projects hidden states [..., hidden] to logits [..., vocab] with the
// LM head, or the embeddings when tied.
func Head(w *Weights, hidden *Node) *Node {
	head := w.LMHead
	if head == nil {
		head = w.Embed
	}
	return matmulT(hidden, head)
}

// Hidden runs the decoder on ids [B, T] (int32) at positions [B, T] (int32)
// with attention mask [B, T, T] (bool, true = query t may attend key s) and
// returns the final-normed hidden states [B, T, hidden]. The caller supplies
// causality and padding in mask; every query must be allowed at least one
// key, or its row is NaN.
func Hidden(cfg Config, w *Weights, ids, positions, mask *Node) *Node {
	return decoder(cfg, w, ids, positions, func(_ int, k, v *Node) (*Node, *Node, *Node) {
		return TransposeAllAxes(k, 0, 2, 1, 3), TransposeAllAxes(v, 0, 2, 3, 1), mask
	})
}

// Forward is Head(Hidden(...)): logits [B, T, vocab] for every position.
// It is a plain function of its inputs so that training can call it with
// weights that are trainable variables.
func Forward(cfg Config, w *Weights, ids, positions, mask *Node) *Node {
	return Head(w, Hidden(cfg, w, ids, positions, mask))
}

// CausalMask returns the [B, T, T] mask of a right-padded batch: query t
// attends keys s ≤ t. Padding after a row's end never reaches its real
// tokens, so lengths are not needed.
func CausalMask(g *Graph, batch, seq int) *Node {
	s := shapes.Make(dtypes.Int32, batch, seq, seq)
	return LessOrEqual(Iota(g, s, 2), Iota(g, s, 1))
}

// Positions returns [B, T] positions 0..T-1 for every row.
func Positions(g *Graph, batch, seq int) *Node {
	return Iota(g, shapes.Make(dtypes.Int32, batch, seq), 1)
}
