package train

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/model"
)

// Batch is one optimizer step's worth of rows. Rows may differ in length;
// they are right-padded internally.
type Batch struct {
	// IDs are the token ids of each row, prompt and completion together.
	IDs [][]int32
	// Mask has one weight per token, 1 on tokens the loss covers (the
	// model-generated ones), 0 elsewhere.
	Mask [][]float32
	// Segments, optional, packs several sequences into a row: tokens
	// attend only to earlier tokens of the same segment id, and positions
	// restart at 0 with each segment. nil means one sequence per row.
	Segments [][]int32
	// Advantages has one value per row (GRPO).
	Advantages []float32
	// OldLogProbs are the rollout policy's logprobs in the loss package's
	// convention (GRPO). nil means the current policy, detached (ratio 1),
	// which is right for the first pass over a rollout batch; later passes
	// must pass the rollout's values.
	OldLogProbs [][]float32
	// RefLogProbs are the reference policy's logprobs (GRPO with beta > 0,
	// DPO). nil computes them in the step, adapters off.
	RefLogProbs [][]float32
	// TeacherLogits are a teacher's logits (LossKD): one vector of the
	// model's vocabulary size per token of each row, from a model on the
	// same tokenizer (model.Model.Logits gives them in this layout).
	TeacherLogits [][][]float32
}

func (t *Trainer) checkBatch(b Batch) error {
	n := len(b.IDs)
	if n == 0 {
		return fmt.Errorf("%w: no rows", ErrBatch)
	}
	if len(b.Mask) != n {
		return fmt.Errorf("%w: %d rows of ids but %d of mask", ErrBatch, n, len(b.Mask))
	}
	if b.Segments != nil && len(b.Segments) != n {
		return fmt.Errorf("%w: %d rows of ids but %d of segments", ErrBatch, n, len(b.Segments))
	}
	for i, row := range b.IDs {
		if len(row) == 0 {
			return fmt.Errorf("%w: row %d is empty", ErrBatch, i)
		}
		if max := t.mcfg.MaxPositionEmbeddings; max > 0 && len(row) > max {
			return fmt.Errorf("%w: row %d has %d tokens, longer than the model's context (%d)", ErrBatch, i, len(row), max)
		}
		if len(b.Mask[i]) != len(row) {
			return fmt.Errorf("%w: row %d has %d ids but %d mask values", ErrBatch, i, len(row), len(b.Mask[i]))
		}
		if b.Segments != nil && len(b.Segments[i]) != len(row) {
			return fmt.Errorf("%w: row %d has %d ids but %d segment ids", ErrBatch, i, len(row), len(b.Segments[i]))
		}
		for j, id := range row {
			if id < 0 || int(id) >= t.mcfg.VocabSize {
				return fmt.Errorf("%w: row %d position %d: token id %d outside [0, %d)", ErrBatch, i, j, id, t.mcfg.VocabSize)
			}
			if m := b.Mask[i][j]; !(m >= 0) || math.IsInf(float64(m), 0) {
				return fmt.Errorf("%w: row %d position %d: mask %v must be finite and ≥ 0", ErrBatch, i, j, m)
			}
		}
	}
	checkLP := func(name string, lp [][]float32) error {
		if lp == nil {
			return nil
		}
		if len(lp) != n {
			return fmt.Errorf("%w: %d rows of ids but %d of %s", ErrBatch, n, len(lp), name)
		}
		for i := range lp {
			if len(lp[i]) != len(b.IDs[i]) {
				return fmt.Errorf("%w: row %d has %d ids but %d %s", ErrBatch, i, len(b.IDs[i]), len(lp[i]), name)
			}
		}
		return nil
	}
	switch t.cfg.Loss {
	case LossGRPO:
		if len(b.Advantages) != n {
			return fmt.Errorf("%w: GRPO needs one advantage per row: %d rows, %d advantages", ErrBatch, n, len(b.Advantages))
		}
		for i, a := range b.Advantages {
			if math.IsNaN(float64(a)) || math.IsInf(float64(a), 0) {
				return fmt.Errorf("%w: advantage %d is %v", ErrBatch, i, a)
			}
		}
		if err := checkLP("old logprobs", b.OldLogProbs); err != nil {
			return err
		}
		if err := checkLP("reference logprobs", b.RefLogProbs); err != nil {
			return err
		}
	case LossDPO:
		if n%2 != 0 {
			return fmt.Errorf("%w: DPO rows come in (chosen, rejected) pairs; got %d rows", ErrBatch, n)
		}
		if err := checkLP("reference logprobs", b.RefLogProbs); err != nil {
			return err
		}
	case LossKD:
		return t.checkTeacher(b)
	}
	return nil
}

// checkTeacher checks a KD batch's teacher logits against its ids and
// the student's vocabulary.
func (t *Trainer) checkTeacher(b Batch) error {
	if len(b.TeacherLogits) != len(b.IDs) {
		return fmt.Errorf("%w: KD needs the teacher's logits of every row: %d rows, %d of teacher logits", ErrBatch, len(b.IDs), len(b.TeacherLogits))
	}
	for i, row := range b.TeacherLogits {
		if len(row) != len(b.IDs[i]) {
			return fmt.Errorf("%w: row %d has %d ids but %d teacher logit vectors", ErrBatch, i, len(b.IDs[i]), len(row))
		}
		for j, v := range row {
			if len(v) != t.mcfg.VocabSize {
				return fmt.Errorf("%w: row %d position %d: %d teacher logits, the student's vocabulary has %d (teacher and student must share a tokenizer)", ErrBatch, i, j, len(v), t.mcfg.VocabSize)
			}
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return fmt.Errorf("%w: row %d position %d: teacher logit %v", ErrBatch, i, j, x)
				}
			}
		}
	}
	return nil
}

// packed holds a micro-batch as host tensors.
type packed struct {
	ids, mask, rows, pos, attn *tensors.Tensor
	adv, old, ref              *tensors.Tensor
	teacher                    *tensors.Tensor // [B, T, V] (KD)
}

func (p packed) common() []any { return []any{p.ids, p.mask, p.rows, p.pos, p.attn} }

// finalize hands the inputs' storage back to the backend once a call has
// run, instead of leaving it to the collector: "cpu" recycles it for the
// next call's uploads.
func (p packed) finalize() {
	for _, x := range []*tensors.Tensor{p.ids, p.mask, p.rows, p.pos, p.attn, p.adv, p.old, p.ref, p.teacher} {
		if x != nil {
			x.FinalizeAll()
		}
	}
}

// byLength returns b with its rows reordered by length, shortest first, in
// units of unit consecutive rows (2 for DPO's chosen/rejected pairs) that
// move together, ordered by their longest row; rows of equal length keep
// their order. Each micro-batch is padded to its longest row and attention
// costs the square of that, so micro-batches of rows of like length cost
// less; the loss and the accumulated gradient do not depend on the order.
func (b Batch) byLength(unit int) Batch {
	n := len(b.IDs)
	units := make([]int, 0, (n+unit-1)/unit)
	longest := make([]int, cap(units))
	for u := range cap(units) {
		units = append(units, u)
		for _, r := range b.IDs[u*unit : min(n, (u+1)*unit)] {
			longest[u] = max(longest[u], len(r))
		}
	}
	if slices.IsSortedFunc(units, func(x, y int) int { return longest[x] - longest[y] }) {
		return b
	}
	slices.SortStableFunc(units, func(x, y int) int { return longest[x] - longest[y] })
	order := make([]int, 0, n)
	for _, u := range units {
		for r := u * unit; r < min(n, (u+1)*unit); r++ {
			order = append(order, r)
		}
	}
	return Batch{
		IDs: permute(b.IDs, order), Mask: permute(b.Mask, order), Segments: permute(b.Segments, order),
		Advantages: permute(b.Advantages, order), OldLogProbs: permute(b.OldLogProbs, order),
		RefLogProbs: permute(b.RefLogProbs, order), TeacherLogits: permute(b.TeacherLogits, order),
	}
}

// permute returns xs in order (nil stays nil).
func permute[T any](xs []T, order []int) []T {
	if xs == nil {
		return nil
	}
	out := make([]T, len(order))
	for i, r := range order {
		out[i] = xs[r]
	}
	return out
}

// seqBucket is the padded length of a micro-batch whose longest row has n
// tokens: model.Bucket up to 256, then the next multiple of 64, so that
// rows of 321–415 tokens (the email job's) pad to 384 or 448 rather than
// 512. Each length compiles its own step graph, so the buckets stay few.
func seqBucket(n int) int {
	if n <= 256 {
		return model.Bucket(n)
	}
	return (n + 63) / 64 * 64
}

// packInputs right-pads rows start..end-1 to rowsPad rows of a bucketed
// length, and builds positions and the attention mask.
func (t *Trainer) packInputs(b Batch, start, end, rowsPad int) packed {
	maxT := 0
	for _, r := range b.IDs[start:end] {
		maxT = max(maxT, len(r))
	}
	T := seqBucket(maxT)
	B := rowsPad
	ids := make([]int32, B*T)
	mask := make([]float32, B*T)
	rows := make([]float32, B)
	pos := make([]int32, B*T)
	attn := make([]bool, B*T*T)
	var adv []float32
	var old, ref []float32
	if b.Advantages != nil {
		adv = make([]float32, B)
	}
	if b.OldLogProbs != nil {
		old = make([]float32, B*T)
	}
	if b.RefLogProbs != nil {
		ref = make([]float32, B*T)
	}
	var teacher []float32
	V := t.mcfg.VocabSize
	if b.TeacherLogits != nil {
		teacher = make([]float32, B*T*V)
	}
	for i := 0; i < B; i++ {
		var seg []int32
		n := 0
		if r := start + i; r < end {
			rows[i] = 1
			n = len(b.IDs[r])
			copy(ids[i*T:], b.IDs[r])
			copy(mask[i*T:], b.Mask[r])
			if b.Segments != nil {
				seg = b.Segments[r]
			}
			if adv != nil {
				adv[i] = b.Advantages[r]
			}
			if old != nil {
				copy(old[i*T:], b.OldLogProbs[r])
			}
			if ref != nil {
				copy(ref[i*T:], b.RefLogProbs[r])
			}
			if teacher != nil {
				for s, v := range b.TeacherLogits[r] {
					copy(teacher[(i*T+s)*V:], v)
				}
			}
		}
		segAt := func(s int) int32 {
			if s < n && seg != nil {
				return seg[s]
			}
			if s < n {
				return 0
			}
			return -1 - int32(s) // each padding token alone
		}
		segStart := 0
		for s := 0; s < T; s++ {
			if s > 0 && segAt(s) != segAt(s-1) {
				segStart = s
			}
			pos[i*T+s] = int32(s - segStart)
			for k := 0; k <= s; k++ {
				attn[(i*T+s)*T+k] = segAt(k) == segAt(s)
			}
		}
	}
	p := packed{
		ids:  tensors.FromFlatDataAndDimensions(ids, B, T),
		mask: tensors.FromFlatDataAndDimensions(mask, B, T),
		rows: tensors.FromFlatDataAndDimensions(rows, B),
		pos:  tensors.FromFlatDataAndDimensions(pos, B, T),
		attn: tensors.FromFlatDataAndDimensions(attn, B, T, T),
	}
	if adv != nil {
		p.adv = tensors.FromFlatDataAndDimensions(adv, B)
	}
	if old != nil {
		p.old = tensors.FromFlatDataAndDimensions(old, B, T)
	}
	if ref != nil {
		p.ref = tensors.FromFlatDataAndDimensions(ref, B, T)
	}
	if teacher != nil {
		p.teacher = tensors.FromFlatDataAndDimensions(teacher, B, T, V)
	}
	return p
}
