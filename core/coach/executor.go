package coach

import (
	"context"
	"fmt"
	"sync"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/sdk"
)

// RolloutRequest asks for one group of episodes on one task.
type RolloutRequest struct {
	Task sdk.Task
	// Episodes is the group size: how many episodes run on Task.
	Episodes int
	// Seed names the group's random streams: the same seed, task and
	// policy give the same traces, wherever they run.
	Seed uint64
	// Greedy decodes at temperature 0 (evaluation).
	Greedy bool
}

// Executor runs rollouts. The coach reaches the athletes only through it,
// so that an executor spreading requests over worker processes or machines
// (NATS JetStream workers, with the adapter travelling as the policy) can
// replace the local one without any change to the coach.
type Executor interface {
	// Rollout runs every request and returns one group of traces per
	// request, in order, each with req.Episodes traces. Episode-level
	// failures (bad code, turn limit) are in the traces; an error means
	// the rollout could not run at all (the model failed, ctx ended).
	Rollout(ctx context.Context, reqs []RolloutRequest) ([][]sdk.Trace, error)
	// SetPolicy makes later rollouts sample from the base model with
	// adapter a (nil: the base alone). The coach calls it after each
	// optimizer step with the adapter being trained.
	SetPolicy(ctx context.Context, a *lora.Adapter) error
}

// PolicyModel is the model an in-process executor samples from.
type PolicyModel interface {
	SetAdapter(a *lora.Adapter) error
}

// Local runs rollouts in this process with one athlete: all the groups
// of a call decode together in one batch (one KV cache, one forward pass
// per token for every unfinished episode), up to MaxBatch episodes at a
// time, and their tools or code run concurrently.
type Local struct {
	Agent *agent.Agent
	Model PolicyModel
	// MaxBatch caps the episodes decoded together (0 = 64).
	MaxBatch int

	mu sync.Mutex // one rollout at a time: they share the model's adapter
}

var _ Executor = (*Local)(nil)

// DefaultMaxBatch is Local's batch cap when MaxBatch is 0.
const DefaultMaxBatch = 64

// Rollout implements Executor.
func (l *Local) Rollout(ctx context.Context, reqs []RolloutRequest) ([][]sdk.Trace, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	maxBatch := l.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	out := make([][]sdk.Trace, len(reqs))
	// Requests are packed into batches of whole groups; a group larger than
	// the cap is a batch of its own. Greedy and sampled requests never
	// share a batch (one temperature per batch).
	for start := 0; start < len(reqs); {
		end, rows := start, 0
		for end < len(reqs) && reqs[end].Greedy == reqs[start].Greedy && (rows == 0 || rows+reqs[end].Episodes <= maxBatch) {
			rows += reqs[end].Episodes
			end++
		}
		var tasks []agent.Task
		var streams []uint64
		for _, r := range reqs[start:end] {
			if r.Episodes < 1 {
				return nil, fmt.Errorf("coach: task %q: a group needs at least one episode", r.Task.ID)
			}
			declared, err := DeclaredTools(r.Task)
			if err != nil {
				return nil, err
			}
			for i := range r.Episodes {
				tasks = append(tasks, agent.Task{ID: r.Task.ID, Prompt: r.Task.Prompt, Metadata: r.Task.Metadata, Declared: declared})
				streams = append(streams, streamOf(r.Seed, i))
			}
		}
		traces, err := l.Agent.RunGroupWith(ctx, tasks, agent.GroupOptions{Seed: 0, Streams: streams, Greedy: reqs[start].Greedy})
		if err != nil {
			return nil, err
		}
		k := 0
		for j, r := range reqs[start:end] {
			g := traces[k : k+r.Episodes : k+r.Episodes]
			for i := range g {
				g[i].ID = fmt.Sprintf("%s-%d", r.Task.ID, i)
			}
			out[start+j] = g
			k += r.Episodes
		}
		start = end
	}
	return out, nil
}

// SetPolicy implements Executor.
func (l *Local) SetPolicy(_ context.Context, a *lora.Adapter) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Model.SetAdapter(a)
}

// streamOf is episode i's random stream in the group seeded seed: a
// splitmix64 mix, so that neighbouring seeds give unrelated streams.
func streamOf(seed uint64, i int) uint64 {
	return mix(seed ^ mix(uint64(i)+0x9e3779b97f4a7c15))
}

func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
