package tokenizer

import (
	"container/heap"
	"sync"
)

// bpe is a byte-level BPE model working on token ids: a word starts as one
// symbol per byte and adjacent pairs merge, lowest rank first.
type bpe struct {
	byteID       [256]int32        // id of each single-byte token, -1 when absent
	merges       map[uint64]uint64 // (left<<32 | right) -> (rank<<32 | merged id)
	rawVocab     map[string]int32  // raw bytes -> id; set only with ignore_merges
	ignoreMerges bool

	// cache maps a word's raw bytes to its ids. Hugging Face caches words
	// the same way; ordinary text repeats words so often that most lookups
	// hit. It is reset when full rather than evicting one by one.
	mu       sync.RWMutex
	cache    map[string][]int32
	noCache  bool // for benchmarks
	cacheMax int
}

const (
	cacheWordMax = 256    // longer words are not cached
	cacheEntries = 100000 // reset the cache past this many words
	// heapThreshold: words at least this long merge with a priority queue,
	// O(n log n), rather than the quadratic scan that is faster on short words.
	heapThreshold = 64
)

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// lookup returns the merge of (a, b).
func (m *bpe) lookup(a, b int32) (rank, id int32, ok bool) {
	v, ok := m.merges[pairKey(a, b)]
	return int32(v >> 32), int32(uint32(v)), ok
}

// appendWord appends the ids of one pre-token (raw bytes) to dst.
func (m *bpe) appendWord(dst []int32, word string) []int32 {
	if len(word) == 1 {
		if id := m.byteID[word[0]]; id >= 0 {
			return append(dst, id)
		}
		return dst
	}
	// The cache comes first, also for whole-word vocabulary hits under
	// ignore_merges: it is much smaller than the vocabulary map, so its
	// lookups stay in CPU cache.
	cacheable := !m.noCache && len(word) <= cacheWordMax
	if cacheable {
		m.mu.RLock()
		ids, ok := m.cache[word]
		m.mu.RUnlock()
		if ok {
			return append(dst, ids...)
		}
	}
	start := len(dst)
	if id, ok := m.rawVocab[word]; ok && m.ignoreMerges {
		dst = append(dst, id)
	} else {
		dst = m.mergeWord(dst, word)
	}
	if cacheable {
		ids := append([]int32(nil), dst[start:]...)
		m.mu.Lock()
		if len(m.cache) >= m.cacheMax {
			clear(m.cache)
		}
		m.cache[word] = ids
		m.mu.Unlock()
	}
	return dst
}

// mergeWord runs the merges on word and appends the result to dst. Bytes
// with no token of their own are dropped, as Hugging Face does without an
// unk token (a byte-level vocabulary always has all 256).
func (m *bpe) mergeWord(dst []int32, word string) []int32 {
	if len(word) >= heapThreshold {
		return m.mergeHeap(dst, word)
	}
	var buf [heapThreshold]int32
	var rbuf [heapThreshold]uint64
	syms := buf[:0]
	for i := 0; i < len(word); i++ {
		if id := m.byteID[word[i]]; id >= 0 {
			syms = append(syms, id)
		}
	}
	return append(dst, m.mergeScan(syms, rbuf[:0])...)
}

const noMerge = ^uint64(0)

// mergeScan merges syms in place: each step takes the lowest-ranked pair,
// leftmost on ties, which is the order Hugging Face's priority queue pops.
func (m *bpe) mergeScan(syms []int32, ranks []uint64) []int32 {
	if len(syms) < 2 {
		return syms
	}
	// ranks[i] = rank<<32 | merged id of (syms[i], syms[i+1]), or noMerge.
	for i := 0; i+1 < len(syms); i++ {
		v, ok := m.merges[pairKey(syms[i], syms[i+1])]
		if !ok {
			v = noMerge
		}
		ranks = append(ranks, v)
	}
	for len(syms) > 1 {
		best, bi := noMerge, -1
		for i, v := range ranks {
			if v>>32 < best>>32 {
				best, bi = v, i
			}
		}
		if bi < 0 {
			break
		}
		syms[bi] = int32(uint32(best))
		syms = append(syms[:bi+1], syms[bi+2:]...)
		ranks = append(ranks[:bi], ranks[bi+1:]...)
		if bi > 0 {
			v, ok := m.merges[pairKey(syms[bi-1], syms[bi])]
			if !ok {
				v = noMerge
			}
			ranks[bi-1] = v
		}
		if bi < len(ranks) {
			v, ok := m.merges[pairKey(syms[bi], syms[bi+1])]
			if !ok {
				v = noMerge
			}
			ranks[bi] = v
		}
	}
	return syms
}

// mergeHeap is Hugging Face's Word::merge_all: a linked list of symbols and
// a priority queue of candidate merges ordered by (rank, position).
func (m *bpe) mergeHeap(dst []int32, word string) []int32 {
	type sym struct {
		id         int32
		prev, next int32
		gone       bool
	}
	syms := make([]sym, 0, len(word))
	for i := 0; i < len(word); i++ {
		if id := m.byteID[word[i]]; id >= 0 {
			n := int32(len(syms))
			syms = append(syms, sym{id: id, prev: n - 1, next: n + 1})
		}
	}
	if len(syms) == 0 {
		return dst
	}
	syms[len(syms)-1].next = -1
	q := make(mergeQueue, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		if rank, id, ok := m.lookup(syms[i].id, syms[i+1].id); ok {
			q = append(q, mergeItem{rank: rank, pos: int32(i), id: id})
		}
	}
	heap.Init(&q)
	for q.Len() > 0 {
		top := heap.Pop(&q).(mergeItem)
		s := &syms[top.pos]
		if s.gone || s.next < 0 {
			continue
		}
		right := &syms[s.next]
		if _, id, ok := m.lookup(s.id, right.id); !ok || id != top.id {
			continue // stale: a neighbour merged since this entry was queued
		}
		s.id = top.id
		right.gone = true
		s.next = right.next
		if s.next >= 0 {
			syms[s.next].prev = top.pos
		}
		if s.prev >= 0 {
			if rank, id, ok := m.lookup(syms[s.prev].id, s.id); ok {
				heap.Push(&q, mergeItem{rank: rank, pos: s.prev, id: id})
			}
		}
		if s.next >= 0 {
			if rank, id, ok := m.lookup(s.id, syms[s.next].id); ok {
				heap.Push(&q, mergeItem{rank: rank, pos: top.pos, id: id})
			}
		}
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		dst = append(dst, syms[i].id)
	}
	return dst
}

type mergeItem struct{ rank, pos, id int32 }

type mergeQueue []mergeItem

func (q mergeQueue) Len() int { return len(q) }
func (q mergeQueue) Less(i, j int) bool {
	if q[i].rank != q[j].rank {
		return q[i].rank < q[j].rank
	}
	return q[i].pos < q[j].pos
}
func (q mergeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *mergeQueue) Push(x any)   { *q = append(*q, x.(mergeItem)) }
func (q *mergeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
