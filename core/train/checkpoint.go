package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/safetensors"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
)

// ErrCheckpoint marks a run directory without a usable checkpoint, or one
// that does not fit the trainer.
var ErrCheckpoint = errors.New("train: bad checkpoint")

// Run-directory layout. Each checkpoint is a directory written completely
// under a temporary name, synced and renamed; LatestFile names the last
// complete one and is itself replaced atomically, so a process killed at
// any moment leaves the previous checkpoint readable.
const (
	CheckpointsDir = "checkpoints"
	LatestFile     = "latest"
	AdapterDir     = "adapter"           // PEFT directory (LoRA)
	WeightsFile    = "model.safetensors" // full fine-tuning
	OptimizerFile  = "optimizer.safetensors"
	StateFile      = "trainer_state.json"
	checkpointFmt  = "toolbrain-train-checkpoint/1"
	keepCheckpoint = 2
)

// Resume is the caller's part of a checkpoint: where the data loader is
// and its random state, stored verbatim.
type Resume struct {
	// DataPosition is the caller's position in its data (lines, batches).
	DataPosition int64 `json:"data_position"`
	// RNG is the caller's random-generator state (e.g. rand.PCG's
	// MarshalBinary), restored as given.
	RNG []byte `json:"rng,omitempty"`
}

type checkpointState struct {
	Format   string  `json:"format"`
	Step     int     `json:"step"`
	AdamStep int64   `json:"adam_step"`
	Mode     string  `json:"mode"`
	Loss     string  `json:"loss"`
	Params   []Param `json:"params"`
	Resume
}

// SaveCheckpoint writes the trainable tensors, the optimizer state, the
// step count and r into runDir/checkpoints/step-N and points
// runDir/latest at it. Checkpoints older than the previous one are
// removed. Nothing already saved is modified before the new checkpoint is
// complete on disk.
func (t *Trainer) SaveCheckpoint(runDir string, r Resume) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.saveCheckpoint(runDir, r); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", runDir, err)
	}
	return nil
}

func (t *Trainer) saveCheckpoint(runDir string, r Resume) error {
	root := filepath.Join(runDir, CheckpointsDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	name := fmt.Sprintf("step-%09d", t.step)
	tmp, err := os.MkdirTemp(root, ".tmp-"+name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // no-op once renamed
	if t.cfg.Mode == ModeLoRA {
		a := &lora.Adapter{Config: t.cfg.LoRA, Modules: map[string]lora.Pair{}}
		for _, p := range t.params {
			pr := a.Modules[p.path]
			ts := lora.Tensor{Shape: p.Shape, Data: p.data}
			if p.isB {
				pr.B = ts
			} else {
				pr.A = ts
			}
			a.Modules[p.path] = pr
		}
		if err := lora.Save(filepath.Join(tmp, AdapterDir), a); err != nil {
			return err
		}
		if err := syncDir(filepath.Join(tmp, AdapterDir)); err != nil {
			return err
		}
	} else {
		var ts []safetensors.Tensor
		for _, p := range t.params {
			ts = append(ts, safetensors.Tensor{Name: p.Name, DType: safetensors.F32, Shape: p.Shape, Data: safetensors.EncodeF32(p.data)})
		}
		if err := safetensors.Write(filepath.Join(tmp, WeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
			return err
		}
	}
	var ts []safetensors.Tensor
	for i, p := range t.params {
		ts = append(ts,
			safetensors.Tensor{Name: "exp_avg/" + p.Name, DType: safetensors.F32, Shape: p.Shape, Data: safetensors.EncodeF32(t.opt.M[i])},
			safetensors.Tensor{Name: "exp_avg_sq/" + p.Name, DType: safetensors.F32, Shape: p.Shape, Data: safetensors.EncodeF32(t.opt.V[i])})
	}
	if err := safetensors.Write(filepath.Join(tmp, OptimizerFile), ts, nil); err != nil {
		return err
	}
	st := checkpointState{Format: checkpointFmt, Step: t.step, AdamStep: t.opt.Step, Mode: t.cfg.Mode, Loss: t.cfg.Loss, Params: t.Params(), Resume: r}
	data, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(tmp, StateFile), append(data, '\n')); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	final := filepath.Join(root, name)
	if err := os.RemoveAll(final); err != nil { // a leftover of an interrupted save of this step
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := syncDir(root); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(runDir, LatestFile), []byte(name+"\n"), 0o644); err != nil {
		return err
	}
	prune(root, name)
	return nil
}

// prune removes all but the newest keepCheckpoint complete checkpoints,
// never the latest, and stale temporary directories.
func prune(root, latest string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	var steps []string
	for _, e := range ents {
		switch {
		case strings.HasPrefix(e.Name(), ".tmp-"):
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		case strings.HasPrefix(e.Name(), "step-") && e.Name() <= latest:
			steps = append(steps, e.Name())
		}
	}
	sort.Strings(steps)
	for len(steps) > keepCheckpoint {
		_ = os.RemoveAll(filepath.Join(root, steps[0]))
		steps = steps[1:]
	}
}

// LoadCheckpoint restores the latest checkpoint of runDir into the
// trainer (trainable tensors, optimizer state, step) and returns the
// caller's Resume. The trainer must have the same mode and trainable
// tensors (names and shapes) as the one that saved it. On error the
// trainer is unchanged.
func (t *Trainer) LoadCheckpoint(runDir string) (Resume, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, err := t.loadCheckpoint(runDir)
	if err != nil {
		return Resume{}, fmt.Errorf("load checkpoint %s: %w", runDir, err)
	}
	return r, nil
}

func (t *Trainer) loadCheckpoint(runDir string) (Resume, error) {
	latest, err := os.ReadFile(filepath.Join(runDir, LatestFile))
	if err != nil {
		return Resume{}, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	name := strings.TrimSpace(string(latest))
	if !strings.HasPrefix(name, "step-") || strings.ContainsAny(name, `/\`) {
		return Resume{}, fmt.Errorf("%w: %s names %q", ErrCheckpoint, LatestFile, name)
	}
	dir := filepath.Join(runDir, CheckpointsDir, name)
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return Resume{}, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	var st checkpointState
	if err := json.Unmarshal(data, &st); err != nil {
		return Resume{}, fmt.Errorf("%w: %s: %w", ErrCheckpoint, filepath.Join(dir, StateFile), err)
	}
	if st.Format != checkpointFmt {
		return Resume{}, fmt.Errorf("%w: format %q, want %q", ErrCheckpoint, st.Format, checkpointFmt)
	}
	if st.Mode != t.cfg.Mode || len(st.Params) != len(t.params) {
		return Resume{}, fmt.Errorf("%w: saved in mode %q with %d trainable tensors; this trainer is %q with %d",
			ErrCheckpoint, st.Mode, len(st.Params), t.cfg.Mode, len(t.params))
	}
	for i, p := range t.params {
		if st.Params[i].Name != p.Name || !slices.Equal(st.Params[i].Shape, p.Shape) {
			return Resume{}, fmt.Errorf("%w: tensor %d is %s %v in the checkpoint, %s %v here",
				ErrCheckpoint, i, st.Params[i].Name, st.Params[i].Shape, p.Name, p.Shape)
		}
	}
	values := make([][]float32, len(t.params))
	if t.cfg.Mode == ModeLoRA {
		a, err := lora.Load(filepath.Join(dir, AdapterDir))
		if err != nil {
			return Resume{}, fmt.Errorf("%w: %w", ErrCheckpoint, err)
		}
		for i, p := range t.params {
			pr, ok := a.Modules[p.path]
			ts := pr.A
			if p.isB {
				ts = pr.B
			}
			if !ok || len(ts.Data) != len(p.data) {
				return Resume{}, fmt.Errorf("%w: adapter lacks %s", ErrCheckpoint, p.Name)
			}
			values[i] = ts.Data
		}
	} else if values, err = readTensors(filepath.Join(dir, WeightsFile), "", t.params); err != nil {
		return Resume{}, err
	}
	m, err := readTensors(filepath.Join(dir, OptimizerFile), "exp_avg/", t.params)
	if err != nil {
		return Resume{}, err
	}
	v, err := readTensors(filepath.Join(dir, OptimizerFile), "exp_avg_sq/", t.params)
	if err != nil {
		return Resume{}, err
	}
	for i, p := range t.params {
		copy(p.data, values[i])
		copy(t.opt.M[i], m[i])
		copy(t.opt.V[i], v[i])
	}
	t.opt.Step, t.step = st.AdamStep, st.Step
	return st.Resume, nil
}

func readTensors(path, prefix string, params []*param) ([][]float32, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	defer f.Close()
	out := make([][]float32, len(params))
	for i, p := range params {
		d, shape, err := f.Float32(prefix + p.Name)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, path, err)
		}
		if !slices.Equal(shape, p.Shape) {
			return nil, fmt.Errorf("%w: %s: %s has shape %v, want %v", ErrCheckpoint, path, prefix+p.Name, shape, p.Shape)
		}
		out[i] = d
	}
	return out, nil
}

// writeFileSync creates path with data and syncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a directory's entries (new files, renames) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
