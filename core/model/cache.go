package model

import (
	"context"
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/generate"
)

// Cache is a KV-cache decoding session; it implements generate.Cache.
//
// # Why static shapes
//
// Each layer's keys and values live on the device as [B, KV, L, headDim]
// and [B, KV, headDim, L] tensors (the layouts attend reads without
// copying), B and L rounded up to buckets when the cache is made. Append
// writes the new tokens into them inside the graph (a scatter at each
// row's own offset) and attends, with a mask, over the first slots up to
// the bucket of the furthest position a row reaches: a step's cost follows
// the rows' lengths, not L, and one compiled executable per bucket serves
// a whole session. The buffers are donated to each step, so they are
// updated in place rather than copied, and the "cpu" backend reads the
// attended prefix in place too.
type Cache struct {
	m      *Model
	args   []any  // weight inputs, fixed at NewCache (adapter included)
	lay    layout // matching layout
	key    string
	batch  int // rows the caller sees
	rows   int // rows allocated (bucketed)
	maxLen int // positions the caller may use per row
	slots  int // positions allocated per row
	lens   []int
	k, v   []*tensors.Tensor // per layer, [rows, slots, KV, headDim]
	closed bool
}

var _ generate.Cache = (*Cache)(nil)
var _ generate.RowResetter = (*Cache)(nil)
var _ generate.RowAdopter = (*Cache)(nil)
var _ generate.Model = (*Model)(nil)

// NewCache starts a decoding session for batch rows with room for maxLen
// positions per row. The adapter set at this moment is used for the whole
// session. It implements generate.Model.
func (m *Model) NewCache(ctx context.Context, batch, maxLen int) (generate.Cache, error) {
	return m.newCache(ctx, batch, maxLen)
}

func (m *Model) newCache(ctx context.Context, batch, maxLen int) (*Cache, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if batch <= 0 || maxLen <= 0 {
		return nil, fmt.Errorf("%w: cache needs positive batch and maxLen, got %d and %d", ErrInput, batch, maxLen)
	}
	args, lay, key, err := m.snapshot()
	if err != nil {
		return nil, err
	}
	c := &Cache{
		m: m, args: args, lay: lay, key: key,
		batch: batch, rows: pow2(batch), maxLen: maxLen, slots: Bucket(maxLen),
		lens: make([]int, batch),
	}
	kvh, hd := m.cfg.KVHeads(), m.cfg.HeadDimension()
	if int64(c.rows)*int64(c.slots)*int64(kvh*hd)*4*2*int64(m.cfg.NumHiddenLayers) > 1<<36 {
		return nil, fmt.Errorf("%w: a cache of %d rows × %d positions would exceed 64 GiB", ErrInput, batch, maxLen)
	}
	for range m.cfg.NumHiddenLayers {
		k, err := zeroTensor(m.backend, shapes.Make(dtypes.Float32, c.rows, kvh, c.slots, hd))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("model: key cache: %w", err)
		}
		c.k = append(c.k, k)
		v, err := zeroTensor(m.backend, shapes.Make(dtypes.Float32, c.rows, kvh, hd, c.slots))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("model: value cache: %w", err)
		}
		c.v = append(c.v, v)
	}
	return c, nil
}

// zeroTensor returns a zeroed tensor that lives on the backend. A host
// tensor would be zeroed, then copied into a new device buffer when the
// first step donates it: three passes over a cache that reaches hundreds
// of MB at batch 32. Where the backend shares host memory this is one.
func zeroTensor(backend backends.Backend, shape shapes.Shape) (*tensors.Tensor, error) {
	if !backend.HasSharedBuffers() {
		return tensors.FromShape(shape), nil
	}
	buf, flat, err := backend.NewSharedBuffer(0, shape)
	if err != nil {
		return nil, fmt.Errorf("new %s buffer: %w", shape, err)
	}
	f, ok := flat.([]float32)
	if !ok {
		_ = backend.BufferFinalize(buf)
		return nil, fmt.Errorf("new %s buffer: storage is %T", shape, flat)
	}
	clear(f) // a backend may hand out recycled storage
	return tensors.FromBuffer(backend, buf)
}

// Len reports how many tokens row b holds.
func (c *Cache) Len(b int) int {
	if b < 0 || b >= len(c.lens) {
		return 0
	}
	return c.lens[b]
}

// Close releases the cache's buffers. Later calls to Append fail.
func (c *Cache) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	finalize(c.k)
	finalize(c.v)
	c.k, c.v, c.args = nil, nil, nil
	return nil
}

// donate appends the key and value caches to args, donated so that the
// step writes them in place.
func (c *Cache) donate(args []any) ([]any, error) {
	for _, kv := range [][]*tensors.Tensor{c.k, c.v} {
		for _, t := range kv {
			d, err := graph.DonateTensorBuffer(t, c.m.backend, 0)
			if err != nil {
				return nil, fmt.Errorf("model: cache buffer: %w", err)
			}
			args = append(args, d)
		}
	}
	return args, nil
}

// Reset empties rows: their keys and values are zeroed (Append's scatter
// adds into slots it expects to be zero) and their lengths set to 0, while
// the other rows keep theirs. It implements generate.RowResetter, for
// continuous batching. On error the cache is closed.
func (c *Cache) Reset(ctx context.Context, rows []int) error {
	if c.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	keep := make([]float32, c.rows)
	for b := range c.batch {
		keep[b] = 1
	}
	for _, b := range rows {
		if b < 0 || b >= c.batch {
			return fmt.Errorf("%w: Reset row %d, cache has %d", ErrInput, b, c.batch)
		}
		keep[b] = 0
	}
	if len(rows) == 0 {
		return nil
	}
	nl := c.m.cfg.NumHiddenLayers
	e, err := c.m.exec("reset", c.key, func() (*graph.Exec, error) {
		return graph.NewExec(c.m.backend, func(in []*graph.Node) []*graph.Node {
			// in[0] is keep [rows]: 1 for a row kept, 0 for a row emptied.
			keep := graph.Reshape(in[0], in[0].Shape().Dimensions[0], 1, 1, 1)
			out := make([]*graph.Node, len(in)-1)
			for i, t := range in[1:] {
				out[i] = graph.Mul(t, graph.BroadcastToDims(keep, t.Shape().Dimensions...))
			}
			return out
		})
	})
	if err != nil {
		return fmt.Errorf("model: build reset graph: %w", err)
	}
	args := []any{tensors.FromFlatDataAndDimensions(keep, c.rows)}
	args, err = c.donate(args)
	if err != nil {
		return err
	}
	res, err := e.Exec(args...)
	if err != nil {
		c.Close()
		return fmt.Errorf("model: reset rows: %w", err)
	}
	copy(c.k, res[:nl])
	copy(c.v, res[nl:2*nl])
	for _, b := range rows {
		c.lens[b] = 0
	}
	return nil
}

// Adopt replaces row dst of c with row src of from, a cache of the same
// model and maximum length: its keys, values and length. Only those rows
// are read and written (a gather and two in-place scatters per layer), so
// a prompt prefilled alone in a one-row cache joins a large batch for the
// cost of copying one row. It implements generate.RowAdopter. On error the
// cache is closed.
func (c *Cache) Adopt(ctx context.Context, dst int, from generate.Cache, src int) error {
	f, ok := from.(*Cache)
	switch {
	case c.closed:
		return ErrClosed
	case !ok || f.m != c.m || f.slots != c.slots || f.key != c.key:
		return fmt.Errorf("%w: Adopt needs a cache of the same model, adapter and length, got %T", ErrInput, from)
	case f.closed:
		return fmt.Errorf("%w: Adopt from a closed cache", ErrClosed)
	case dst < 0 || dst >= c.batch || src < 0 || src >= f.batch:
		return fmt.Errorf("%w: Adopt row %d (of %d) from row %d (of %d)", ErrInput, dst, c.batch, src, f.batch)
	case f.lens[src] > c.maxLen:
		return fmt.Errorf("%w: Adopt a row of %d tokens into a cache made for %d", ErrInput, f.lens[src], c.maxLen)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	nl := c.m.cfg.NumHiddenLayers
	e, err := c.m.exec("adopt", c.key, func() (*graph.Exec, error) {
		return graph.NewExec(c.m.backend, func(in []*graph.Node) []*graph.Node {
			// in: dst index [1, 1], src index [1, 1], then c's caches, then from's.
			di, si := in[0], in[1]
			n := (len(in) - 2) / 2
			out := make([]*graph.Node, n)
			for i := range n {
				d, s := in[2+i], in[2+n+i]
				// Subtracting the old row gives exact zeros, so the new row
				// lands bit for bit.
				zeroed := graph.ScatterSum(d, di, graph.Neg(graph.Gather(d, di)), false, true)
				out[i] = graph.ScatterSum(zeroed, di, graph.Gather(s, si), false, true)
			}
			return out
		})
	})
	if err != nil {
		return fmt.Errorf("model: build adopt graph: %w", err)
	}
	args := []any{int32Tensor([]int32{int32(dst)}, 1, 1), int32Tensor([]int32{int32(src)}, 1, 1)}
	args, err = c.donate(args)
	if err != nil {
		return err
	}
	for _, t := range f.k {
		args = append(args, t)
	}
	for _, t := range f.v {
		args = append(args, t)
	}
	res, err := e.Exec(args...)
	if err != nil {
		c.Close()
		return fmt.Errorf("model: adopt row: %w", err)
	}
	copy(c.k, res[:nl])
	copy(c.v, res[nl:2*nl])
	c.lens[dst] = f.lens[src]
	return nil
}

// Append feeds tokens[b] to row b and returns, for each row that got
// tokens, the logits after its last new token (nil for the others). Each
// row continues from its own length. On error no row changes.
//
// ctx is checked before the step starts; a running step is not interrupted.
func (c *Cache) Append(ctx context.Context, tokens [][]int32) ([][]float32, error) {
	if c.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(tokens) != c.batch {
		return nil, fmt.Errorf("%w: Append got %d rows, cache has %d", ErrInput, len(tokens), c.batch)
	}
	maxN, reach := 0, 0
	for b, row := range tokens {
		if len(row) > 0 {
			reach = max(reach, c.lens[b]+len(row))
		}
		if c.lens[b]+len(row) > c.maxLen {
			return nil, fmt.Errorf("%w: row %d would hold %d tokens, cache was made for %d", ErrInput, b, c.lens[b]+len(row), c.maxLen)
		}
		if err := c.m.checkTokens(b, row); err != nil {
			return nil, err
		}
		maxN = max(maxN, len(row))
	}
	out := make([][]float32, c.batch)
	if maxN == 0 {
		return out, nil
	}
	tb := Bucket(maxN)
	ids := make([]int32, c.rows*tb)
	start := make([]int32, c.rows)
	count := make([]int32, c.rows)
	for b, row := range tokens {
		copy(ids[b*tb:], row)
		start[b], count[b] = int32(c.lens[b]), int32(len(row))
	}
	// Attend only the slots some fed row reaches, bucketed: one
	// executable per bucket, and no step reads slots no row holds yet.
	span := min(c.slots, Bucket(reach))
	e, err := c.m.exec("decode", fmt.Sprintf("%s|span%d", c.key, span), func() (*graph.Exec, error) {
		return graph.NewExec(c.m.backend, decodeGraph(c.lay, span))
	})
	if err != nil {
		return nil, fmt.Errorf("model: build decode graph: %w", err)
	}
	args := append([]any(nil), c.args...)
	args = append(args, int32Tensor(ids, c.rows, tb), int32Tensor(start, c.rows), int32Tensor(count, c.rows))
	// Donating lets the scatter write the new entries in place.
	args, err = c.donate(args)
	if err != nil {
		return nil, err
	}
	res, err := e.Exec(args...)
	if err != nil {
		// The donated buffers may be gone: the session cannot continue.
		c.Close()
		return nil, fmt.Errorf("model: decode step: %w", err)
	}
	nl := c.m.cfg.NumHiddenLayers
	copy(c.k, res[1:1+nl])
	copy(c.v, res[1+nl:1+2*nl])
	logits, err := tensors.CopyFlatData[float32](res[0])
	_ = res[0].FinalizeAll()
	if err != nil {
		return nil, fmt.Errorf("model: decode step: %w", err)
	}
	v := c.m.cfg.VocabSize
	for b, row := range tokens {
		c.lens[b] += len(row)
		if len(row) > 0 {
			out[b] = logits[b*v : (b+1)*v : (b+1)*v]
		}
	}
	return out, nil
}

// decodeGraph builds one cache step. Inputs: weights, ids [B, T], start [B]
// (each row's length so far), count [B] (new tokens per row, ≤ T), then the
// key caches and the value caches. Outputs: logits [B, vocab] after each
// row's last new token, then the updated caches. The new tokens attend the
// first span slots, which must hold every position a fed row reaches (a
// row fed nothing may be cut: its logits are not read).
func decodeGraph(lay layout, span int) func([]*graph.Node) []*graph.Node {
	cfg := lay.cfg
	nl := cfg.NumHiddenLayers
	return func(in []*graph.Node) []*graph.Node {
		n := lay.numInputs()
		w := lay.weights(in[:n])
		ids, start, count := in[n], in[n+1], in[n+2]
		kc, vc := in[n+3:n+3+nl], in[n+3+nl:n+3+2*nl]
		g := ids.Graph()
		dims := ids.Shape().Dimensions
		b, t := dims[0], dims[1]
		slots := kc[0].Shape().Dimensions[2]
		tIdx := graph.Iota(g, shapes.Make(dtypes.Int32, b, t), 1)
		pos := graph.Add(graph.InsertAxes(start, -1), tIdx)        // [B, T]
		valid := graph.LessThan(tIdx, graph.InsertAxes(count, -1)) // [B, T]
		// Padding tokens write zeros (a no-op for ScatterSum) at a clamped
		// slot, so they can neither corrupt a row nor index out of range.
		// Real tokens land in slots never written before, which are zero.
		slot := graph.MinScalar(pos, slots-1)
		rowIdx := graph.Iota(g, shapes.Make(dtypes.Int32, b, t), 0)
		idx := graph.Stack([]*graph.Node{rowIdx, slot}, -1) // [B, T, 2]
		lIdx := graph.Iota(g, shapes.Make(dtypes.Int32, b, t, span), 2)
		mask := graph.LessOrEqual(lIdx, graph.InsertAxes(pos, -1)) // [B, T, span]
		newK := make([]*graph.Node, nl)
		newV := make([]*graph.Node, nl)
		hidden := decoder(cfg, w, ids, pos, func(layer int, k, v *graph.Node) (*graph.Node, *graph.Node, *graph.Node) {
			keep := graph.BroadcastToDims(graph.InsertAxes(valid, -1, -1), k.Shape().Dimensions...)
			zero := graph.ZerosLike(k)
			// The raw scatter places (row, slot) on axes (0, 2) of the keys
			// and (0, 3) of the values; graph.ScatterSum only indexes
			// leading axes, which would force the layouts attend must copy.
			newK[layer] = graph.BackendScatterSum(kc[layer], idx, graph.Where(keep, k, zero),
				2, []int{2, 3}, []int{0, 2}, []int{0, 2}, false, false)
			newV[layer] = graph.BackendScatterSum(vc[layer], idx, graph.Where(keep, v, zero),
				2, []int{2, 3}, []int{0, 3}, []int{0, 3}, false, false)
			if span == slots {
				return newK[layer], newV[layer], mask
			}
			// Slices of the caches: the "cpu" backend's products read them
			// in place.
			all := graph.AxisRange()
			return graph.Slice(newK[layer], all, all, graph.AxisRange(0, span), all),
				graph.Slice(newV[layer], all, all, all, graph.AxisRange(0, span)), mask
		})
		// Only each row's last new position needs the LM head.
		last := graph.MaxScalar(graph.SubScalar(count, 1), 0)
		lastIdx := graph.Stack([]*graph.Node{graph.Iota(g, shapes.Make(dtypes.Int32, b), 0), last}, -1) // [B, 2]
		logits := Head(w, graph.Gather(hidden, lastIdx))                                                // [B, vocab]
		return append(append([]*graph.Node{logits}, newK...), newV...)
	}
}
