// Package model is the Llama/Qwen2-family decoder (LlamaForCausalLM,
// Qwen2ForCausalLM) written as gomlx graphs: full-sequence logits, KV-cache
// decoding for core/generate, unmerged LoRA adapters and checkpoint I/O in
// Hugging Face layout.
//
// # Graph and executables
//
// The forward pass (Forward, Hidden) is a plain function of weight nodes,
// ids, positions and an attention mask, so training can call it with
// trainable variables. A Model holds the weights as device tensors, uploaded
// once, and compiles one executable per shape bucket: batch and sequence
// lengths are rounded up (powers of two and 1.5× powers of two) so that a
// handful of graphs serve every request; padding is masked.
//
// All math is float32; BF16 and F16 checkpoints are converted at load.
package model

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/safetensors"
)

var errClosedModel = errors.New("model: model closed")

// LoadOptions tunes Load and New. The zero value loads float32 weights.
type LoadOptions struct {
	// Quant quantizes the projection weights (q, k, v, o, gate, up, down)
	// at load: QuantInt8 or QuantNF4; embeddings, norms, biases and the LM
	// head stay float32. The weights are dequantized inside the graph, next
	// to their matmul. A checkpoint saved quantized (bitsandbytes layout)
	// is kept in its stored format whatever Quant says.
	Quant string
}

// Model is a loaded decoder. Its methods are safe for concurrent use; a
// Cache it returns is not.
type Model struct {
	cfg     Config
	backend backends.Backend
	specs   []tensorSpec
	params  [][]*tensors.Tensor // per spec: 1 tensor, or the quantized parts
	storage []storage           // per spec

	mu      sync.RWMutex // guards adapter and params during MergeAdapter
	adapter *adapterState

	execMu sync.Mutex
	execs  map[string]*graph.Exec

	linearBytes, otherBytes int64
}

// adapterState is an adapter uploaded to the device.
type adapterState struct {
	a       *lora.Adapter
	paths   []string          // sorted module paths
	tensors []*tensors.Tensor // A, B per path, then the scalar scale
	// key identifies the graph layout (which modules are adapted); adapters
	// with the same key share executables, since the scale is an input.
	key string
}

// New builds a model from cfg and weights read from src, uploading them to
// backend once.
func New(backend backends.Backend, cfg Config, src Source, opts LoadOptions) (*Model, error) {
	if backend == nil {
		return nil, errors.New("model: nil backend")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, backend: backend, specs: cfg.specs(), execs: map[string]*graph.Exec{}}
	if opts.Quant != QuantNone && opts.Quant != QuantInt8 && opts.Quant != QuantNF4 {
		return nil, fmt.Errorf("%w: LoadOptions.Quant %q (want \"\", %q or %q)", ErrUnsupported, opts.Quant, QuantInt8, QuantNF4)
	}
	for _, s := range m.specs {
		var ts []*tensors.Tensor
		var st storage
		var n int64
		if s.kind == kindLinear {
			var err error
			if ts, st, n, err = m.loadLinear(src, s, opts); err != nil {
				m.release()
				return nil, err
			}
		} else {
			data, err := fetch(src, s)
			if err != nil {
				m.release()
				return nil, err
			}
			t, err := m.upload(data, s.shape)
			if err != nil {
				m.release()
				return nil, fmt.Errorf("upload %s: %w", s.name, err)
			}
			ts, n = []*tensors.Tensor{t}, int64(len(data))*4
		}
		m.params = append(m.params, ts)
		m.storage = append(m.storage, st)
		if s.kind == kindLinear || s.kind == kindBias {
			m.linearBytes += n
		} else {
			m.otherBytes += n
		}
	}
	return m, nil
}

// Load reads config.json and the safetensors weights (one file or shards
// with an index) of a Hugging Face checkpoint directory.
func Load(backend backends.Backend, dir string, opts LoadOptions) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	defer set.Close()
	m, err := New(backend, cfg, SetSource{set}, opts)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	return m, nil
}

// SetSource adapts a *safetensors.Set to Source.
type SetSource struct{ *safetensors.Set }

// Has implements Source.
func (s SetSource) Has(name string) bool { _, ok := s.Info(name); return ok }

var _ Source = SetSource{}

// upload copies host data into a device tensor. The host copy is released.
func (m *Model) upload(data []float32, shape []int) (t *tensors.Tensor, err error) {
	defer func() {
		// gomlx reports backend failures by panicking.
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	t = tensors.FromFlatDataAndDimensions(data, shape...)
	if err := t.MaterializeOnDevice(m.backend, true, 0); err != nil {
		return nil, err
	}
	if t.IsLocal() && t.HasLocal() && !t.IsShared() {
		t.FinalizeLocal()
	}
	return t, nil
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// VocabSize is the number of logits per position.
func (m *Model) VocabSize() int { return m.cfg.VocabSize }

// Backend returns the backend the weights live on.
func (m *Model) Backend() backends.Backend { return m.backend }

// WeightBytes reports resident weight bytes: linear holds the projections
// (and their biases), other the embeddings, norms and LM head. An adapter
// is not counted.
func (m *Model) WeightBytes() (linear, other int64) { return m.linearBytes, m.otherBytes }

// Close releases the weights and compiled graphs. The model must not be
// used afterwards.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.release()
	return nil
}

func (m *Model) release() {
	m.execMu.Lock()
	for _, e := range m.execs {
		e.Finalize()
	}
	m.execs = map[string]*graph.Exec{}
	m.execMu.Unlock()
	for _, ts := range m.params {
		finalize(ts)
	}
	m.params = nil
	if m.adapter != nil {
		for _, t := range m.adapter.tensors {
			_ = t.FinalizeAll()
		}
		m.adapter = nil
	}
}

// SetAdapter applies a LoRA adapter, unmerged, to every later Logits call
// and cache; nil switches adapters off. Caches already open keep the
// adapter they started with. It fails, leaving the model unchanged, if the
// adapter's modules or shapes do not fit the base.
func (m *Model) SetAdapter(a *lora.Adapter) error {
	var st *adapterState
	if a != nil {
		var err error
		if st, err = m.uploadAdapter(a); err != nil {
			return err
		}
	}
	// The previous adapter's tensors are not freed here: an open cache may
	// still use them. gomlx releases them when they become unreachable.
	m.mu.Lock()
	m.adapter = st
	m.mu.Unlock()
	return nil
}

// Adapter returns the adapter set by SetAdapter, or nil.
func (m *Model) Adapter() *lora.Adapter {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.adapter == nil {
		return nil
	}
	return m.adapter.a
}

// CheckAdapter reports whether a fits this model: each module path exists
// and A is [r, in], B is [out, r] for that projection's [out, in].
func (m *Model) CheckAdapter(a *lora.Adapter) error {
	if err := a.Validate(); err != nil {
		return err
	}
	for _, path := range a.Paths() {
		out, in, ok := m.cfg.ModuleShape(path)
		if !ok {
			return fmt.Errorf("%w: adapter module %s does not exist in the base model (%d layers)",
				lora.ErrWeights, path, m.cfg.NumHiddenLayers)
		}
		p := a.Modules[path]
		if p.A.Shape[1] != in {
			return fmt.Errorf("%w: %s.lora_A has shape %v, want [%d, %d] for base weight [%d, %d]",
				lora.ErrWeights, path, p.A.Shape, a.Config.R, in, out, in)
		}
		if p.B.Shape[0] != out {
			return fmt.Errorf("%w: %s.lora_B has shape %v, want [%d, %d] for base weight [%d, %d]",
				lora.ErrWeights, path, p.B.Shape, out, a.Config.R, out, in)
		}
	}
	return nil
}

// ModuleShape returns the [out, in] shape of the projection at a module
// path such as "model.layers.0.self_attn.q_proj". It has lora.Shape's
// signature, for lora.New.
func (c Config) ModuleShape(path string) (out, in int, ok bool) {
	for l := 0; l < c.NumHiddenLayers; l++ {
		for _, mod := range lora.Modules {
			if lora.ModulePath(l, mod) == path {
				s, _ := c.LinearShape(mod)
				return s[0], s[1], true
			}
		}
	}
	return 0, 0, false
}

func (m *Model) uploadAdapter(a *lora.Adapter) (*adapterState, error) {
	if err := m.CheckAdapter(a); err != nil {
		return nil, err
	}
	st := &adapterState{a: a, paths: a.Paths()}
	st.key = "lora[" + strings.Join(st.paths, ",") + "]"
	for _, path := range st.paths {
		p := a.Modules[path]
		for _, t := range []lora.Tensor{p.A, p.B} {
			dt, err := m.upload(slices.Clone(t.Data), t.Shape)
			if err != nil {
				return nil, fmt.Errorf("upload adapter %s: %w", path, err)
			}
			st.tensors = append(st.tensors, dt)
		}
	}
	scale, err := m.upload([]float32{float32(a.Scale())}, nil)
	if err != nil {
		return nil, fmt.Errorf("upload adapter scale: %w", err)
	}
	st.tensors = append(st.tensors, scale)
	return st, nil
}

// layout says how an executable's flat inputs map to weights.
type layout struct {
	cfg     Config
	specs   []tensorSpec
	storage []storage
	paths   []string // adapted modules, sorted; nil without adapter
}

// baseInputs is how many inputs the base weights take.
func (l layout) baseInputs() int {
	n := 0
	for _, s := range l.storage {
		n += s.inputs()
	}
	return n
}

// numInputs is how many weight inputs (base and adapter) lead the inputs.
func (l layout) numInputs() int {
	n := l.baseInputs()
	if len(l.paths) > 0 {
		n += 2*len(l.paths) + 1
	}
	return n
}

// weights rebuilds the Weights struct from the leading inputs,
// dequantizing quantized projections in the graph.
func (l layout) weights(in []*graph.Node) *Weights {
	byName := make(map[string]*graph.Node, len(l.specs))
	rowScale := map[string]*graph.Node{}
	pos := 0
	for i, s := range l.specs {
		k := l.storage[i].inputs()
		w, rs := l.storage[i].dequant(in[pos:pos+k], s.shape)
		byName[s.name] = w
		if rs != nil {
			rowScale[s.name] = rs
		}
		pos += k
	}
	w := &Weights{Embed: byName["model.embed_tokens.weight"], Norm: byName["model.norm.weight"], LMHead: byName["lm_head.weight"]}
	var scale *graph.Node
	adapters := map[string][2]*graph.Node{}
	if len(l.paths) > 0 {
		off := l.baseInputs()
		for i, p := range l.paths {
			adapters[p] = [2]*graph.Node{in[off+2*i], in[off+2*i+1]}
		}
		scale = in[off+2*len(l.paths)]
	}
	lin := func(layer int, module string) Linear {
		p := lora.ModulePath(layer, module)
		li := Linear{W: byName[p+".weight"], WScale: rowScale[p+".weight"], B: byName[p+".bias"]}
		if ab, ok := adapters[p]; ok {
			li.LoRAA, li.LoRAB, li.LoRAScale = ab[0], ab[1], scale
		}
		return li
	}
	for i := 0; i < l.cfg.NumHiddenLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		w.Layers = append(w.Layers, Layer{
			InputNorm:         byName[p+"input_layernorm.weight"],
			PostAttentionNorm: byName[p+"post_attention_layernorm.weight"],
			Q:                 lin(i, "q_proj"), K: lin(i, "k_proj"), V: lin(i, "v_proj"), O: lin(i, "o_proj"),
			Gate: lin(i, "gate_proj"), Up: lin(i, "up_proj"), Down: lin(i, "down_proj"),
		})
	}
	return w
}

// snapshot returns the weight inputs (base, then adapter) and the layout
// key under a read lock, so a concurrent SetAdapter cannot mix them.
func (m *Model) snapshot() ([]any, layout, string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.params == nil {
		return nil, layout{}, "", errClosedModel
	}
	args := make([]any, 0, len(m.params)+8)
	for _, ts := range m.params {
		for _, t := range ts {
			args = append(args, t)
		}
	}
	lay := layout{cfg: m.cfg, specs: m.specs, storage: m.storage}
	key := "base"
	if st := m.adapter; st != nil {
		for _, t := range st.tensors {
			args = append(args, t)
		}
		lay.paths = st.paths
		key = st.key
	}
	return args, lay, key, nil
}

// exec returns the cached executable for (kind, layout key), creating it
// with build on first use. gomlx caches one compiled graph per input shape
// inside it.
func (m *Model) exec(kind, key string, build func() (*graph.Exec, error)) (*graph.Exec, error) {
	m.execMu.Lock()
	defer m.execMu.Unlock()
	if e, ok := m.execs[kind+"|"+key]; ok {
		return e, nil
	}
	e, err := build()
	if err != nil {
		return nil, err
	}
	// Bounded by the number of shape buckets a process uses.
	e.SetMaxCache(256)
	m.execs[kind+"|"+key] = e
	return e, nil
}

// Bucket rounds n up to the next size in 1, 2, 3, 4, 6, 8, 12, 16, 24, ...
// (powers of two and 1.5× powers of two): at most a third is padding, and
// few distinct shapes are compiled. Graphs built on the model's weights
// elsewhere (training) pad with it too.
func Bucket(n int) int {
	if n <= 2 {
		return max(n, 1)
	}
	p := 2
	for p < n {
		if p+p/2 >= n {
			return p + p/2
		}
		p *= 2
	}
	return p
}

// pow2 rounds n up to a power of two.
func pow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// Logits runs the full forward pass and returns logits[b][t][v] for every
// position of every row. Rows may differ in length; they are padded and
// masked internally. An empty row gets an empty result.
//
// ctx is checked before the computation starts; a running computation is
// not interrupted.
func (m *Model) Logits(ctx context.Context, ids [][]int32) ([][][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no rows", ErrInput)
	}
	tokens := 0
	for b, row := range ids {
		tokens += len(row)
		if err := m.checkTokens(b, row); err != nil {
			return nil, err
		}
	}
	parts := 1
	if _, cpu := m.backend.(*simplego.Backend); cpu && tokens >= minSplitTokens {
		parts = min(splitWays, len(ids))
	}
	if parts == 1 {
		return m.logits(ids)
	}
	// # Why the rows run as concurrent executions
	//
	// The pure-Go backend parallelises matmuls but runs every other op on
	// one core (ops_sequential, see core/backend), leaving the other idle
	// for about 15% of a forward pass. Two executions over halves of the
	// batch fill it: +15-25% tokens/s on 2 cores.
	out := make([][][]float32, len(ids))
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*len(ids)/parts, (p+1)*len(ids)/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			part, err := m.logits(ids[lo:hi])
			copy(out[lo:hi], part)
			errs[p] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// minSplitTokens is the batch size, in tokens, from which Logits splits
// its rows over concurrent executions: below it the work is too small to
// gain from a second core.
const minSplitTokens = 64

// logits runs one forward pass over rows already checked by Logits.
func (m *Model) logits(ids [][]int32) ([][][]float32, error) {
	return m.perPosition("logits", ids, m.cfg.VocabSize, Forward)
}

// perPosition runs out (Forward or Hidden) over rows already checked,
// padded to a bucketed [B, T], and returns its width values at each real
// position of each row. kind names the compiled graph.
func (m *Model) perPosition(kind string, ids [][]int32, width int, out func(cfg Config, w *Weights, ids, positions, mask *graph.Node) *graph.Node) ([][][]float32, error) {
	maxT := 0
	for _, row := range ids {
		maxT = max(maxT, len(row))
	}
	res := make([][][]float32, len(ids))
	if maxT == 0 {
		return res, nil
	}
	bb, tb := pow2(len(ids)), Bucket(maxT)
	flat := make([]int32, bb*tb)
	for b, row := range ids {
		copy(flat[b*tb:], row)
	}
	args, lay, key, err := m.snapshot()
	if err != nil {
		return nil, err
	}
	e, err := m.exec(kind, key, func() (*graph.Exec, error) {
		return graph.NewExec(m.backend, func(in []*graph.Node) *graph.Node {
			n := lay.numInputs()
			idsN := in[n]
			d := idsN.Shape().Dimensions
			g := idsN.Graph()
			return out(lay.cfg, lay.weights(in[:n]), idsN, Positions(g, d[0], d[1]), CausalMask(g, d[0], d[1]))
		})
	})
	if err != nil {
		return nil, fmt.Errorf("model: build %s graph: %w", kind, err)
	}
	args = append(args, tensors.FromFlatDataAndDimensions(flat, bb, tb))
	outs, err := e.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", kind, err)
	}
	defer finalize(outs)
	vals, err := tensors.CopyFlatData[float32](outs[0])
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", kind, err)
	}
	for b, row := range ids {
		res[b] = make([][]float32, len(row))
		for t := range row {
			off := (b*tb + t) * width
			res[b][t] = vals[off : off+width : off+width]
		}
	}
	return res, nil
}

// MeanHidden returns, for each row of ids, the mean of the final-normed
// hidden states over its positions: a sentence embedding of
// Config().HiddenSize values (mean pooling, as sentence-transformers do).
// Rows may differ in length; padding never reaches a row's positions, so a
// row's embedding does not depend on the others. The adapter, if any,
// applies. An empty row gets a nil embedding.
//
// ctx is checked before the computation starts; a running computation is
// not interrupted.
func (m *Model) MeanHidden(ctx context.Context, ids [][]int32) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no rows", ErrInput)
	}
	for b, row := range ids {
		if err := m.checkTokens(b, row); err != nil {
			return nil, err
		}
	}
	hidden, err := m.perPosition("hidden", ids, m.cfg.HiddenSize, Hidden)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(ids))
	for b, states := range hidden {
		if len(states) == 0 {
			continue
		}
		mean := make([]float32, m.cfg.HiddenSize)
		for _, h := range states {
			for i, v := range h {
				mean[i] += v
			}
		}
		inv := 1 / float32(len(states))
		for i := range mean {
			mean[i] *= inv
		}
		out[b] = mean
	}
	return out, nil
}

func (m *Model) checkTokens(row int, toks []int32) error {
	for t, id := range toks {
		if id < 0 || int(id) >= m.cfg.VocabSize {
			return fmt.Errorf("%w: row %d position %d: token id %d outside [0, %d)", ErrInput, row, t, id, m.cfg.VocabSize)
		}
	}
	return nil
}

func finalize(ts []*tensors.Tensor) {
	for _, t := range ts {
		_ = t.FinalizeAll()
	}
}

// int32Tensor builds a host tensor; a helper to keep call sites short.
func int32Tensor(data []int32, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(data, dims...)
}
