package train

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train/optim"
)

// curveRun trains steps [from, to) on batches drawn from a seeded loader,
// resuming from runDir when resume is set, and returns the losses.
func curveRun(t *testing.T, m *model.Model, mode, runDir string, resume bool, from, to int) []float64 {
	t.Helper()
	cfg := Config{Mode: mode, Seed: 5, LoRA: lora.Config{R: 4, Alpha: 8, TargetModules: []string{"q_proj", "v_proj"}, Dropout: 0.1},
		Optimizer: optim.AdamW{LR: 2e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01},
		Schedule:  optim.Schedule{Kind: optim.Cosine, WarmupSteps: 1, TotalSteps: 6}, MaxGradNorm: 1}
	if mode == ModeFull {
		cfg.LoRA = lora.Config{}
	}
	tr, err := NewTrainer(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pcg := rand.NewPCG(1, 1)
	if resume {
		r, err := tr.LoadCheckpoint(runDir)
		if err != nil {
			t.Fatal(err)
		}
		if r.DataPosition != int64(from) || tr.StepCount() != from {
			t.Fatalf("resumed at data %d step %d, want %d", r.DataPosition, tr.StepCount(), from)
		}
		if err := pcg.UnmarshalBinary(r.RNG); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(pcg)
	var losses []float64
	for s := from; s < to; s++ {
		b := randomBatch(rng.Uint64(), 4, m.VocabSize())
		met, err := tr.Step(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, met.Loss)
		state, _ := pcg.MarshalBinary()
		if err := tr.SaveCheckpoint(runDir, Resume{DataPosition: int64(s + 1), RNG: state}); err != nil {
			t.Fatal(err)
		}
	}
	return losses
}

// TestCheckpoint_ResumeCurve: 3 steps, then a new trainer resumed from the
// run directory for 3 more, gives the loss curve of 6 uninterrupted steps
// exactly (schedule, dropout, optimizer state and data position included).
func TestCheckpoint_ResumeCurve(t *testing.T) {
	for _, mode := range []string{ModeLoRA, ModeFull} {
		t.Run(mode, func(t *testing.T) {
			m, _ := tinyModel(t, model.LoadOptions{})
			whole := curveRun(t, m, mode, t.TempDir(), false, 0, 6)
			run := t.TempDir()
			got := curveRun(t, m, mode, run, false, 0, 3)
			got = append(got, curveRun(t, m, mode, run, true, 3, 6)...)
			if !slices.Equal(whole, got) {
				t.Errorf("uninterrupted %v\nresumed       %v", whole, got)
			}
			ents, _ := os.ReadDir(filepath.Join(run, CheckpointsDir))
			if len(ents) != keepCheckpoint {
				t.Errorf("%d checkpoints kept, want %d", len(ents), keepCheckpoint)
			}
		})
	}
}

func TestCheckpoint_Errors(t *testing.T) {
	m, a := tinyModel(t, model.LoadOptions{})
	tr, _ := NewTrainer(m, Config{Adapter: a})
	if _, err := tr.LoadCheckpoint(t.TempDir()); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("empty run dir: %v", err)
	}
	run := t.TempDir()
	if err := tr.SaveCheckpoint(run, Resume{}); err != nil {
		t.Fatal(err)
	}
	other, _ := NewTrainer(m, Config{LoRA: lora.Config{R: 2, Alpha: 4, TargetModules: []string{"o_proj"}}})
	if _, err := other.LoadCheckpoint(run); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("other adapter: %v", err)
	}
	full, _ := NewTrainer(m, Config{Mode: ModeFull})
	if _, err := full.LoadCheckpoint(run); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("other mode: %v", err)
	}
}

// TestCheckpoint_KillDuringSave kills a child process that saves
// checkpoints in a loop at random moments; the run directory must always
// load, and hold a checkpoint consistent with its step (the child sets
// every B entry to the step number before saving).
func TestCheckpoint_KillDuringSave(t *testing.T) {
	if os.Getenv("TOOLBRAIN_CKPT_CHILD") != "" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := tinyModel(t, model.LoadOptions{})
	for round := 0; round < 4; round++ {
		run := t.TempDir()
		cmd := exec.Command(exe, "-test.run=^TestCheckpointChild$")
		cmd.Env = append(os.Environ(), "TOOLBRAIN_CKPT_CHILD="+run)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for a first checkpoint, then kill at a random moment.
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(run, LatestFile)); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		_ = cmd.Process.Kill() // SIGKILL
		_ = cmd.Wait()
		tr, err := NewTrainer(m, childConfig())
		if err != nil {
			t.Fatal(err)
		}
		r, err := tr.LoadCheckpoint(run)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		want := float32(r.DataPosition)
		for _, p := range tr.params {
			if p.isB && p.data[0] != want {
				t.Fatalf("round %d: %s[0] = %v, want %v (checkpoint of step %d)", round, p.Name, p.data[0], want, tr.StepCount())
			}
		}
		t.Logf("round %d: resumed at checkpoint %d", round, r.DataPosition)
	}
}

func childConfig() Config {
	return Config{LoRA: lora.Config{R: 16, Alpha: 16, TargetModules: lora.Modules}}
}

// TestCheckpointChild is the child of TestCheckpoint_KillDuringSave.
func TestCheckpointChild(t *testing.T) {
	run := os.Getenv("TOOLBRAIN_CKPT_CHILD")
	if run == "" {
		t.Skip("child process of TestCheckpoint_KillDuringSave")
	}
	m, _ := tinyModel(t, model.LoadOptions{})
	tr, err := NewTrainer(m, childConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; ; i++ {
		for _, p := range tr.params {
			if p.isB {
				for j := range p.data {
					p.data[j] = float32(i)
				}
			}
		}
		tr.step = i
		if err := tr.SaveCheckpoint(run, Resume{DataPosition: int64(i), RNG: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
}
