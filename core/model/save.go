package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/quant"
	"github.com/toolbrain/toolbrain/core/safetensors"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
)

// Save writes a Hugging Face checkpoint directory: config.json and
// model.safetensors (float32). Every weight cfg calls for must be present
// with its shape; extra names are an error too, so a typo cannot vanish.
// Each file is replaced atomically (temporary file, fsync, rename).
func Save(dir string, cfg Config, w map[string]HostTensor) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	specs := cfg.specs()
	ts := make([]safetensors.Tensor, 0, len(specs))
	src := MapSource(w)
	for _, s := range specs {
		data, err := fetch(src, s)
		if err != nil {
			return fmt.Errorf("save %s: %w", dir, err)
		}
		ts = append(ts, safetensors.Tensor{Name: s.name, DType: safetensors.F32,
			Shape: slices.Clone(s.shape), Data: safetensors.EncodeF32(data)})
	}
	if len(w) != len(specs) {
		want := cfg.TensorShapes()
		for name := range w {
			if _, ok := want[name]; !ok {
				return fmt.Errorf("save %s: %w: tensor %s is not part of a %s with this config", dir, ErrShape, name, cfg.Architecture)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	if err := safetensors.Write(filepath.Join(dir, safetensors.SingleFileName), ts, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	cfg.TorchDType = "float32"
	js, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	return nil
}

// HostWeights copies the model's weights back to host memory under their
// Hugging Face names (after any MergeAdapter), e.g. to Save them.
// Quantized weights come back dequantized, exactly as the graph sees them.
func (m *Model) HostWeights() (map[string]HostTensor, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.params == nil {
		return nil, errClosedModel
	}
	out := make(map[string]HostTensor, len(m.specs))
	for i, s := range m.specs {
		var data []float32
		q8, q4, err := m.hostQuant(i)
		switch {
		case err != nil:
		case q8 != nil:
			data = q8.Dequantize()
		case q4 != nil:
			data = q4.Dequantize()
		default:
			data, err = tensors.CopyFlatData[float32](m.params[i][0])
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.name, err)
		}
		out[s.name] = HostTensor{Shape: slices.Clone(s.shape), Data: data}
	}
	return out, nil
}

// MergeAdapter adds scale·B·A into the base weights of every module a
// adapts, so later calls pay nothing for it; it cannot be switched off
// again. The adapter set by SetAdapter (if any) is left as it is; merging
// the same adapter that is also set applies it twice.
func (m *Model) MergeAdapter(a *lora.Adapter) error {
	if err := m.CheckAdapter(a); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.params == nil {
		return errClosedModel
	}
	scale := float32(a.Scale())
	r := a.Config.R
	for _, path := range a.Paths() {
		i := slices.IndexFunc(m.specs, func(s tensorSpec) bool { return s.name == path+".weight" })
		if m.storage[i].inputs() != 1 {
			return fmt.Errorf("%w: merging an adapter into quantized weights (%s); use SetAdapter", ErrUnsupported, path)
		}
		w, err := tensors.CopyFlatData[float32](m.params[i][0])
		if err != nil {
			return fmt.Errorf("merge %s: %w", path, err)
		}
		p := a.Modules[path]
		out, in := p.B.Shape[0], p.A.Shape[1]
		for o := 0; o < out; o++ {
			row := w[o*in : (o+1)*in]
			for k := 0; k < r; k++ {
				bk := scale * p.B.Data[o*r+k]
				if bk == 0 {
					continue
				}
				ak := p.A.Data[k*in : (k+1)*in]
				for j := range row {
					row[j] += bk * ak[j]
				}
			}
		}
		t, err := m.upload(w, m.specs[i].shape)
		if err != nil {
			return fmt.Errorf("merge %s: %w", path, err)
		}
		// Executables read the weights at each call, so swapping the tensor
		// is enough; the old one is freed once no cache holds it.
		m.params[i] = []*tensors.Tensor{t}
	}
	return nil
}

// Save writes the model as a Hugging Face checkpoint directory with its
// weights in their resident form: float32, or quantized projections in the
// bitsandbytes layout (with a matching quantization_config in
// config.json), which Load reads back without requantizing. An adapter set
// with SetAdapter is not included (lora.Save writes it).
func (m *Model) Save(dir string) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.params == nil {
		return errClosedModel
	}
	var ts []safetensors.Tensor
	formats := map[quant.Format]bool{}
	for i, s := range m.specs {
		q8, q4, err := m.hostQuant(i)
		if err != nil {
			return fmt.Errorf("save %s: read %s: %w", dir, s.name, err)
		}
		var qts []quant.Tensor
		switch {
		case q8 != nil:
			qts = q8.Tensors(s.name[:len(s.name)-len(".weight")])
			formats[quant.FormatInt8] = true
		case q4 != nil:
			qts = q4.Tensors(s.name[:len(s.name)-len(".weight")])
			formats[quant.FormatNF4] = true
		default:
			data, err := tensors.CopyFlatData[float32](m.params[i][0])
			if err != nil {
				return fmt.Errorf("save %s: read %s: %w", dir, s.name, err)
			}
			ts = append(ts, safetensors.Tensor{Name: s.name, DType: safetensors.F32, Shape: slices.Clone(s.shape), Data: safetensors.EncodeF32(data)})
		}
		for _, q := range qts {
			ts = append(ts, safetensors.Tensor{Name: q.Name, DType: safetensors.DType(q.DType), Shape: q.Shape, Data: q.Data})
		}
	}
	cfg := m.cfg
	cfg.TorchDType = "float32"
	js, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	if len(formats) > 0 {
		// transformers refuses quantized tensors without this block.
		var obj map[string]any
		_ = json.Unmarshal(js, &obj)
		qc := map[string]any{"quant_method": "bitsandbytes", "load_in_8bit": formats[quant.FormatInt8], "load_in_4bit": formats[quant.FormatNF4]}
		if formats[quant.FormatNF4] {
			qc["bnb_4bit_quant_type"] = "nf4"
			qc["bnb_4bit_use_double_quant"] = false
			qc["bnb_4bit_compute_dtype"] = "float32"
		}
		obj["quantization_config"] = qc
		if js, err = json.MarshalIndent(obj, "", "  "); err != nil {
			return fmt.Errorf("save %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	if err := safetensors.Write(filepath.Join(dir, safetensors.SingleFileName), ts, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	return nil
}
