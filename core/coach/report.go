package coach

import (
	"bytes"
	"fmt"
	"image/color"
	"path/filepath"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
)

// WriteReport draws the learning curves of history as PNG files and
// writes a short Markdown report into dir.
func WriteReport(dir string, cfg Config, history []StepMetrics, sum Summary) error {
	var steps []StepMetrics
	var evals []StepMetrics
	for _, m := range history {
		if m.Step > 0 {
			steps = append(steps, m)
		}
		if m.Eval != nil {
			evals = append(evals, m)
		}
	}
	var images []string
	if len(steps) > 0 {
		err := drawCurves(filepath.Join(dir, CurvesFile), "Training rollouts", "step", []series{
			{"mean reward", pick(steps, func(m StepMetrics) float64 { return m.RewardMean })},
			{"success", pick(steps, func(m StepMetrics) float64 { return m.Success })},
		}, nil)
		if err != nil {
			return err
		}
		var updated []StepMetrics
		for _, m := range steps {
			if m.Updated {
				updated = append(updated, m)
			}
		}
		if err := drawCurves(filepath.Join(dir, LossFile), "Loss and KL (steps with an update)", "step", []series{
			{"loss", pick(updated, func(m StepMetrics) float64 { return m.Loss })},
			{"KL", pick(updated, func(m StepMetrics) float64 { return m.KL })},
		}, nil); err != nil {
			return err
		}
		images = append(images, CurvesFile, LossFile)
	}
	if len(evals) > 0 {
		pts := pick(evals, func(m StepMetrics) float64 { return m.Eval.SuccessRate })
		errs := make(plotter.YErrors, len(evals))
		for i, m := range evals {
			errs[i].Low, errs[i].High = m.Eval.SuccessRate-m.Eval.CILow, m.Eval.CIHigh-m.Eval.SuccessRate
		}
		if err := drawCurves(filepath.Join(dir, EvalFile), "Held-out success (95% CI)", "step", []series{{"success", pts}}, errs); err != nil {
			return err
		}
		images = append(images, EvalFile)
	}
	return atomicfile.WriteFile(filepath.Join(dir, ReportFile), report(cfg, steps, sum, images), 0o644)
}

// report is the Markdown summary of a run.
func report(cfg Config, steps []StepMetrics, sum Summary, images []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Training run\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| method | %s |\n| group size | %d |\n| tasks per step | %d |\n| seed | %d |\n", cfg.Method, cfg.GroupSize, cfg.TasksPerStep, cfg.Seed)
	fmt.Fprintf(&b, "| steps | %d (%d with an update) |\n| wall time | %s |\n", sum.Steps, sum.Updates, time.Duration(sum.Seconds*float64(time.Second)).Round(time.Second))
	skipped, fallbacks, judge, sandbox := 0, 0, 0, 0
	var causes JudgeCauses
	for _, m := range steps {
		skipped += m.SkippedGroups
		fallbacks += m.RewardFallbacks
		judge += m.JudgeFallbacks
		causes.Add(m.JudgeCauses)
		sandbox += m.SandboxErrors
	}
	fmt.Fprintf(&b, "| groups without signal (skipped) | %d of %d |\n", skipped, len(steps)*cfg.TasksPerStep)
	fmt.Fprintf(&b, "| reward fallbacks (of which judge) | %d (%d) |\n", fallbacks, judge)
	if judge > 0 {
		fmt.Fprintf(&b, "| judge fallbacks: failures, timeouts, unreadable answers | %d, %d, %d |\n", causes.Failures, causes.Timeouts, causes.Unreadable)
	}
	fmt.Fprintf(&b, "| failed tool or code turns | %d |\n", sandbox)
	if len(steps) > 0 {
		first, last := steps[0], steps[len(steps)-1]
		fmt.Fprintf(&b, "| training reward, first → last step | %.3f → %.3f |\n", first.RewardMean, last.RewardMean)
	}
	if sum.EvalBefore != nil && sum.EvalAfter != nil {
		fmt.Fprintf(&b, "\n## Held-out tasks\n\n| | success | 95%% CI | mean reward | mean turns |\n|---|---|---|---|---|\n")
		for _, r := range []struct {
			name string
			e    *EvalResult
		}{{"before training", sum.EvalBefore}, {"after training", sum.EvalAfter}} {
			fmt.Fprintf(&b, "| %s | %.1f%% (%d/%d) | %.1f–%.1f%% | %.3f | %.2f |\n", r.name, 100*r.e.SuccessRate, r.e.Successes, r.e.Tasks,
				100*r.e.CILow, 100*r.e.CIHigh, r.e.MeanReward, r.e.MeanTurns)
		}
	}
	if len(images) > 0 {
		fmt.Fprintf(&b, "\n## Curves\n\n")
		for _, img := range images {
			fmt.Fprintf(&b, "![%s](%s)\n", img, img)
		}
	}
	fmt.Fprintf(&b, "\nPer-step figures: %s (one JSON object a step). Adapter: %s/.\n", MetricsFile, AdapterDir)
	return b.Bytes()
}

type series struct {
	name string
	pts  plotter.XYs
}

func pick(ms []StepMetrics, f func(StepMetrics) float64) plotter.XYs {
	pts := make(plotter.XYs, len(ms))
	for i, m := range ms {
		pts[i].X, pts[i].Y = float64(m.Step), f(m)
	}
	return pts
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// drawCurves draws line series (with error bars on the first when errs is
// set) into a PNG written atomically.
func drawCurves(path, title, xLabel string, ss []series, errs plotter.YErrors) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Add(plotter.NewGrid())
	for i, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(s.pts)
		if err != nil {
			return fmt.Errorf("coach: plot %s: %w", path, err)
		}
		l.Color, pts.Color = palette[i%len(palette)], palette[i%len(palette)]
		p.Add(l, pts)
		p.Legend.Add(s.name, l)
		if i == 0 && errs != nil {
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYer
				plotter.YErrorer
			}{s.pts, errs})
			if err != nil {
				return fmt.Errorf("coach: plot %s: %w", path, err)
			}
			eb.Color = palette[0]
			p.Add(eb)
		}
	}
	p.Legend.Top = true
	w, err := p.WriterTo(7*vg.Inch, 4*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("coach: plot %s: %w", path, err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return fmt.Errorf("coach: plot %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, buf.Bytes(), 0o644)
}
