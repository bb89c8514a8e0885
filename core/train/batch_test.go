package train

import (
	"slices"
	"testing"
)

// TestBatch_ByLength: rows come out shortest first, units of two rows
// (DPO's pairs) move together ordered by their longer row, equal lengths
// keep their order, and every per-row field follows its row.
func TestBatch_ByLength(t *testing.T) {
	row := func(id int32, n int) []int32 {
		r := make([]int32, n)
		for i := range r {
			r[i] = id
		}
		return r
	}
	lens := []int{5, 9, 2, 9, 7, 1}
	var b Batch
	for i, n := range lens {
		id := int32(i)
		b.IDs = append(b.IDs, row(id, n))
		b.Mask = append(b.Mask, make([]float32, n))
		b.Advantages = append(b.Advantages, float32(i))
		b.OldLogProbs = append(b.OldLogProbs, []float32{float32(i)})
		b.TeacherLogits = append(b.TeacherLogits, [][]float32{{float32(i)}})
	}
	for _, tt := range []struct {
		name string
		unit int
		want []int32 // rows by their original index
	}{
		{"rows", 1, []int32{5, 2, 0, 4, 1, 3}},
		{"pairs", 2, []int32{4, 5, 0, 1, 2, 3}}, // pairs (0,1) and (2,3) both reach 9: kept in order
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := b.byLength(tt.unit)
			var order []int32
			for i, ids := range got.IDs {
				r := ids[0]
				order = append(order, r)
				if len(ids) != lens[r] || len(got.Mask[i]) != lens[r] || got.Advantages[i] != float32(r) ||
					got.OldLogProbs[i][0] != float32(r) || got.TeacherLogits[i][0][0] != float32(r) {
					t.Errorf("row %d (was %d): a field did not follow its row", i, r)
				}
			}
			if !slices.Equal(order, tt.want) {
				t.Errorf("order %v, want %v", order, tt.want)
			}
			if got.Segments != nil || got.RefLogProbs != nil {
				t.Error("absent fields became present")
			}
		})
	}
}

func TestSeqBucket(t *testing.T) {
	for _, c := range []struct{ n, want int }{{1, 1}, {5, 6}, {200, 256}, {256, 256}, {257, 320}, {321, 384}, {415, 448}, {1000, 1024}} {
		if got := seqBucket(c.n); got != c.want {
			t.Errorf("seqBucket(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}
