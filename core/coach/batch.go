package coach

import (
	"fmt"

	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/sdk"
)

// row is one trace as the trainer reads it: the exact ids the model saw,
// in order, and a mask that is 1 exactly on the ids it generated (tool
// output, prompts and template glue are 0).
func row(tr *sdk.Trace) ([]int32, []float32, error) {
	seq, err := tr.Sequence()
	if err != nil {
		return nil, nil, fmt.Errorf("trace %s: %w", tr.ID, err)
	}
	if seq.Generated == 0 {
		return nil, nil, nil
	}
	mask := make([]float32, len(seq.Mask))
	for i, m := range seq.Mask {
		mask[i] = float32(m)
	}
	return seq.IDs, mask, nil
}

// grpoBatch is the GRPO batch of a step: every trace of every group that
// carries a signal, with its advantage. Groups whose rewards are all equal
// are left out and counted in skipped; traces with no generated token
// (a prompt that filled the context) add nothing and are left out too.
func grpoBatch(groups []*Group, adv [][]float64) (b train.Batch, skipped int, err error) {
	for g, grp := range groups {
		if allEqual(grp.Rewards) {
			skipped++
			continue
		}
		for i := range grp.Traces {
			ids, mask, err := row(&grp.Traces[i])
			if err != nil {
				return b, 0, err
			}
			if ids == nil {
				continue
			}
			b.IDs, b.Mask = append(b.IDs, ids), append(b.Mask, mask)
			b.Advantages = append(b.Advantages, float32(adv[g][i]))
		}
	}
	return b, skipped, nil
}

// dpoBatch pairs the traces the algorithm chose (its pairs; each group's
// best against its worst for the first-party "dpo") whose rewards differ by
// at least margin, as (chosen, rejected) rows. Groups without such a pair
// are counted in skipped.
func dpoBatch(groups []*Group, pairs []sdk.PreferencePair, margin float64) (b train.Batch, skipped int, err error) {
	paired := make([]bool, len(groups))
	for _, p := range pairs {
		grp := groups[p.Group]
		if grp.Rewards[p.Chosen]-grp.Rewards[p.Rejected] < margin || grp.Rewards[p.Chosen] <= grp.Rewards[p.Rejected] {
			continue
		}
		c, cm, err := row(&grp.Traces[p.Chosen])
		if err != nil {
			return b, 0, err
		}
		r, rm, err := row(&grp.Traces[p.Rejected])
		if err != nil {
			return b, 0, err
		}
		if c == nil || r == nil {
			continue
		}
		b.IDs = append(b.IDs, c, r)
		b.Mask = append(b.Mask, cm, rm)
		paired[p.Group] = true
	}
	for _, ok := range paired {
		if !ok {
			skipped++
		}
	}
	return b, skipped, nil
}

// sftBatch is rejection sampling: the traces whose reward reaches
// minReward, trained on as demonstrations (their generated ids). Groups
// with none are counted in skipped.
func sftBatch(groups []*Group, minReward float64) (b train.Batch, skipped int, err error) {
	for _, grp := range groups {
		kept := 0
		for i := range grp.Traces {
			if grp.Rewards[i] < minReward {
				continue
			}
			ids, mask, err := row(&grp.Traces[i])
			if err != nil {
				return b, 0, err
			}
			if ids == nil {
				continue
			}
			b.IDs, b.Mask = append(b.IDs, ids), append(b.Mask, mask)
			kept++
		}
		if kept == 0 {
			skipped++
		}
	}
	return b, skipped, nil
}
