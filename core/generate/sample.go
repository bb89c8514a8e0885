package generate

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// policy is the validated sampling configuration shared by every row.
type policy struct {
	temperature float64 // 0 = greedy
	topK        int     // 0 = off
	topP        float64 // 1 = off
	minP        float64 // 0 = off
	penalty     float64 // 1 = off
}

// draw is one sampled token with its two logprobs.
type draw struct {
	token   int32
	logprob float32 // under the distribution actually sampled from
	raw     float32 // under the model's own distribution (temperature 1, unfiltered)
}

// sampler draws the tokens of one row. It owns its scratch buffers and its
// random stream, so rows can be sampled concurrently and a row's draws do not
// depend on which other rows share the batch.
type sampler struct {
	pol   policy
	vocab int
	rng   *rand.Rand // nil for greedy: greedy consumes no randomness

	// Repetition penalty state: every token id the row holds (prompt and
	// generated), as a bitset for the membership test and a list to visit.
	seen     []uint64
	seenList []int32

	z    []float32 // penalised logits, when the penalty is on
	w    []float64 // exp((z - max z)/T), indexed by token id
	idx  []int32   // candidate token ids
	heap []float32 // top-k heap
}

// rowRNG returns the random stream of one row. ChaCha8 keyed by (seed,
// stream) gives streams that are independent for every pair, unlike seeding
// one generator with seed+stream, where neighbouring seeds share streams.
func rowRNG(seed int64, stream uint64) *rand.Rand {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], uint64(seed))
	binary.LittleEndian.PutUint64(key[8:], stream)
	copy(key[16:], "toolbrain/gen v1")
	return rand.New(rand.NewChaCha8(key))
}

func newSampler(pol policy, vocab int, seed int64, stream uint64) *sampler {
	s := &sampler{pol: pol, vocab: vocab}
	if pol.temperature != 0 {
		s.rng = rowRNG(seed, stream)
	}
	if pol.penalty != 1 {
		s.seen = make([]uint64, (vocab+63)/64)
	}
	return s
}

// observe records tokens the row now holds, for the repetition penalty.
// Ids must already be known to be inside the vocabulary.
func (s *sampler) observe(ids ...int32) {
	if s.seen == nil {
		return
	}
	for _, id := range ids {
		word, bit := id>>6, uint64(1)<<(id&63)
		if s.seen[word]&bit == 0 {
			s.seen[word] |= bit
			s.seenList = append(s.seenList, id)
		}
	}
}

// sample draws the next token from one row's logits. It fails only on logits
// no distribution can be made of: NaN, +Inf, every entry -Inf, or the wrong
// length. -Inf entries are allowed and mean "never this token".
func (s *sampler) sample(logits []float32) (draw, error) {
	if len(logits) != s.vocab {
		return draw{}, fmt.Errorf("%w: %d logits, vocabulary is %d", ErrBadLogits, len(logits), s.vocab)
	}
	rawMax := float32(math.Inf(-1))
	for i, v := range logits {
		if v != v || v > math.MaxFloat32 {
			return draw{}, fmt.Errorf("%w: logit %d is %v", ErrBadLogits, i, v)
		}
		if v > rawMax {
			rawMax = v
		}
	}
	if math.IsInf(float64(rawMax), -1) {
		return draw{}, fmt.Errorf("%w: every logit is -Inf", ErrBadLogits)
	}

	var d draw
	var rawSum float64
	z := s.penalise(logits)
	switch {
	case s.pol.temperature == 0:
		rawSum = sumExp(logits, rawMax)
		d.token = argmax(z)
		d.logprob = 0 // a point mass: the greedy policy picks this token with probability 1
	case s.pol.temperature == 1 && s.pol.penalty == 1 && s.pol.topK == 0:
		// The sampling weights are the raw softmax weights: one exp pass serves both.
		d.token, d.logprob, rawSum = s.draw(z, rawMax)
	default:
		rawSum = sumExp(logits, rawMax)
		d.token, d.logprob, _ = s.draw(z, rawMax)
	}
	d.raw = float32(float64(logits[d.token]) - float64(rawMax) - math.Log(rawSum))
	return d, nil
}

// sumExp is Σ exp(v - max), the softmax normaliser relative to the maximum.
func sumExp(logits []float32, max float32) float64 {
	return expPass(logits, float64(max), 1, nil, nil)
}

// penalise returns the logits after the repetition penalty (Hugging Face's
// RepetitionPenaltyLogitsProcessor: every token the row holds has its logit
// divided by the penalty if positive, multiplied if negative). Without a
// penalty it returns logits itself.
func (s *sampler) penalise(logits []float32) []float32 {
	if s.pol.penalty == 1 || len(s.seenList) == 0 {
		return logits
	}
	if s.z == nil {
		s.z = make([]float32, s.vocab)
	}
	copy(s.z, logits)
	p := float32(s.pol.penalty)
	for _, id := range s.seenList {
		if v := s.z[id]; v < 0 {
			s.z[id] = v * p
		} else {
			s.z[id] = v / p
		}
	}
	return s.z
}

// argmax returns the index of the largest value, the lowest index on ties.
func argmax(z []float32) int32 {
	best := 0
	for i, v := range z {
		if v > z[best] {
			best = i
		}
	}
	return int32(best)
}

// histBuckets is the number of 1-nat buckets of the top-p pre-filter.
const histBuckets = 64

// draw samples from z under temperature, top-k, top-p and min-p, applied in
// that order as Hugging Face's warpers are. It returns the token, its logprob
// under the filtered, renormalised distribution, and the unfiltered sum of
// weights (meaningful only with every token a candidate, i.e. no top-k).
// zmax0 is the maximum of the unpenalised logits, equal to max z when
// penalty is off.
//
// # Why not sort
//
// A full sort of 150k logits per token costs more than the model's softmax.
// Top-k finds the k-th value by a heap (small k) or quickselect; top-p first
// drops the tail by a histogram of weights, in the same pass that computes
// them, then runs a quickselect on mass over what is left (usually a few
// hundred tokens).
func (s *sampler) draw(z []float32, zmax0 float32) (int32, float32, float64) {
	zmax := zmax0
	if s.pol.penalty != 1 {
		zmax = z[argmax(z)]
	}
	invT := 1 / s.pol.temperature
	if s.w == nil {
		s.w = make([]float64, s.vocab)
	}
	w := s.w
	// Weights are exp((z-zmax)/T) computed from the difference, which is <= 0,
	// so a tiny temperature underflows to 0 instead of overflowing to +Inf.
	m := float64(zmax)

	var cands []int32 // nil means every token, with weights in w
	total := 0.0
	if s.pol.topK > 0 && s.pol.topK < s.vocab {
		kth := s.kthLargest(z, s.pol.topK)
		cands = s.ids(0)
		for i, v := range z {
			// Hugging Face keeps every token tied with the k-th logit.
			if v >= kth && !math.IsInf(float64(v), -1) {
				cands = append(cands, int32(i))
			}
		}
		for _, i := range cands {
			w[i] = expNonPos((float64(z[i]) - m) * invT)
			total += w[i]
		}
	} else if s.pol.topP < 1 {
		// Weights plus a histogram of -log w in 1-nat buckets, to drop the
		// tail before the quickselect.
		var hist [histBuckets]float64
		total = expPass(z, m, invT, w, &hist)
		cands = s.nucleusCandidates(z, m, invT, &hist, total)
	} else {
		total = expPass(z, m, invT, w, nil)
	}
	fullTotal := total

	if s.pol.topP < 1 {
		n := topPCount(cands, w, s.pol.topP*total)
		cands = cands[:n]
		total = 0
		for _, i := range cands {
			total += w[i]
		}
	}
	if s.pol.minP > 0 {
		// Hugging Face's MinPLogitsWarper drops p < minP * max p; in weights
		// relative to the maximum (whose weight is exactly 1) that is w < minP.
		var kept []int32
		total = 0
		if cands == nil {
			kept = s.ids(0)
			for i, wi := range w {
				if wi >= s.pol.minP {
					kept = append(kept, int32(i))
					total += wi
				}
			}
		} else {
			kept = cands[:0]
			for _, i := range cands {
				if w[i] >= s.pol.minP {
					kept = append(kept, i)
					total += w[i]
				}
			}
		}
		cands = kept
	}

	u := s.rng.Float64() * total
	tok := int32(-1)
	acc := 0.0
	if cands == nil {
		for i, wi := range w {
			acc += wi
			if wi > 0 {
				tok = int32(i)
				if u < acc {
					break
				}
			}
		}
	} else {
		for _, i := range cands {
			acc += w[i]
			if w[i] > 0 {
				tok = i
				if u < acc {
					break
				}
			}
		}
	}
	// Rounding can leave u >= acc after the last candidate; tok is then the
	// last token of positive weight, which is what u ~ total means.
	lp := (float64(z[tok])-m)*invT - math.Log(total)
	return tok, float32(lp), fullTotal
}

// nucleusCandidates returns the tokens that may be in the top-p nucleus: all
// but the lowest-weight histogram buckets whose mass together stays within
// (1-p)·total. Every token of those buckets has at least p·total ranked above
// it, so top-p would drop it anyway.
func (s *sampler) nucleusCandidates(z []float32, m, invT float64, hist *[histBuckets]float64, total float64) []int32 {
	// The margin keeps rounding in the bucket sums from dropping a token that
	// sits exactly on the boundary.
	budget := (1 - s.pol.topP) * total * (1 - 1e-9)
	cut, low := histBuckets, 0.0
	for cut > 0 && low+hist[cut-1] <= budget {
		cut--
		low += hist[cut]
	}
	cands := s.ids(0)
	if cut == histBuckets {
		// Nothing to drop (only the catch-all bucket is bounded below); keep
		// every token with a weight.
		for i, wi := range s.w {
			if wi > 0 {
				cands = append(cands, int32(i))
			}
		}
		return cands
	}
	lim := float64(cut)
	for i, v := range z {
		if (m-float64(v))*invT < lim {
			cands = append(cands, int32(i))
		}
	}
	return cands
}

// ids returns the candidate buffer, length n, capacity the vocabulary.
func (s *sampler) ids(n int) []int32 {
	if cap(s.idx) < s.vocab {
		s.idx = make([]int32, s.vocab)
	}
	return s.idx[:n]
}

// allIDs fills the candidate buffer with every token id.
func (s *sampler) allIDs() []int32 {
	ids := s.ids(s.vocab)
	for i := range ids {
		ids[i] = int32(i)
	}
	return ids
}

// heapTopK is the largest k for which kthLargest keeps a heap rather than
// running a quickselect: with a small heap nearly every logit is rejected by
// one comparison with its root.
const heapTopK = 256

// kthLargest returns the k-th largest value of z (1-based, counting equal
// values separately).
func (s *sampler) kthLargest(z []float32, k int) float32 {
	if k <= heapTopK {
		return s.kthLargestHeap(z, k)
	}
	return s.kthLargestSelect(z, k)
}

// kthLargestHeap keeps the k largest values seen in a min-heap; its root is
// the answer. O(V) comparisons plus O(log k) per value that enters the heap.
func (s *sampler) kthLargestHeap(z []float32, k int) float32 {
	h := append(s.heap[:0], z[:k]...)
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for _, v := range z[k:] {
		if v > h[0] {
			h[0] = v
			siftDown(h, 0)
		}
	}
	s.heap = h
	return h[0]
}

func siftDown(h []float32, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h[c+1] < h[c] {
			c++
		}
		if h[i] <= h[c] {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// kthLargestSelect finds the k-th largest value by quickselect with a
// three-way partition, so many equal values (masked -Inf logits, a flat
// distribution) cost no more than distinct ones.
func (s *sampler) kthLargestSelect(z []float32, k int) float32 {
	idx := s.allIDs()
	target := k - 1
	lo, hi := 0, len(idx)
	for iter := 0; ; iter++ {
		if hi-lo <= 16 || iter > 64 {
			// Small ranges, or a pathological pivot sequence: sort what is left.
			slices.SortFunc(idx[lo:hi], func(a, b int32) int {
				switch {
				case z[a] > z[b]:
					return -1
				case z[a] < z[b]:
					return 1
				}
				return 0
			})
			return z[idx[target]]
		}
		pivot := median3(z[idx[lo]], z[idx[lo+(hi-lo)/2]], z[idx[hi-1]])
		// [lo,lt) > pivot, [lt,i) == pivot, [gt,hi) < pivot.
		lt, i, gt := lo, lo, hi
		for i < gt {
			switch v := z[idx[i]]; {
			case v > pivot:
				idx[lt], idx[i] = idx[i], idx[lt]
				lt++
				i++
			case v < pivot:
				gt--
				idx[i], idx[gt] = idx[gt], idx[i]
			default:
				i++
			}
		}
		switch {
		case target < lt:
			hi = lt
		case target < gt:
			return pivot
		default:
			lo = gt
		}
	}
}

func median3(a, b, c float32) float32 {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b = c
	}
	if a > b {
		return a
	}
	return b
}

// topPCount reorders ids so that its first n entries are the smallest set of
// highest-weight tokens whose weight sum reaches need, and returns n (at least
// 1). Tokens are ranked by weight, then by lower id, a total order, so the set
// is unique. This is the nucleus of Hugging Face's TopPLogitsWarper (a token
// is kept while the mass ranked strictly above it is below p), found by a
// quickselect on mass: expected O(V) instead of a full O(V log V) sort.
func topPCount(ids []int32, w []float64, need float64) int {
	above := func(a, b int32) bool { return w[a] > w[b] || (w[a] == w[b] && a < b) }
	lo, hi := 0, len(ids)
	for iter := 0; ; iter++ {
		if hi-lo <= 16 || iter > 64 {
			slices.SortFunc(ids[lo:hi], func(a, b int32) int {
				if above(a, b) {
					return -1
				}
				if above(b, a) {
					return 1
				}
				return 0
			})
			for j := lo; j < hi; j++ {
				need -= w[ids[j]]
				if need <= 0 {
					return j + 1
				}
			}
			// Only rounding gets here: the range held less than need.
			return max(hi, 1)
		}
		// Median-of-three pivot, moved to the end for a Lomuto partition.
		a, b, c := lo, lo+(hi-lo)/2, hi-1
		if above(ids[b], ids[a]) {
			a, b = b, a
		}
		if above(ids[c], ids[b]) {
			b = c
			if above(ids[b], ids[a]) {
				b = a
			}
		}
		ids[b], ids[hi-1] = ids[hi-1], ids[b]
		p := ids[hi-1]
		store, mass := lo, 0.0
		for j := lo; j < hi-1; j++ {
			if above(ids[j], p) {
				ids[j], ids[store] = ids[store], ids[j]
				mass += w[ids[store]]
				store++
			}
		}
		ids[store], ids[hi-1] = ids[hi-1], ids[store]
		switch {
		case mass >= need:
			hi = store // the nucleus ends strictly above the pivot
		case mass+w[p] >= need:
			return store + 1 // it ends at the pivot
		default:
			need -= mass + w[p]
			lo = store + 1
		}
	}
}
