package model

import (
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// GraphWeights exposes the base weights to graphs built outside this
// package, such as core/train's training step.
//
// It returns the device tensors of the base weights (never the adapter set
// with SetAdapter) in graph-input order, the Hugging Face name of each, and
// a function that rebuilds Weights from graph nodes fed with those tensors
// in the same order, dequantizing quantized projections inside the graph.
// The Weights it builds carry no LoRA terms: the caller fills Linear.LoRAA,
// LoRAB and LoRAScale with its own nodes.
//
// A quantized projection takes several inputs (int8: codes and scales; NF4:
// packed codes, absmax and quant map); all but the first are named
// name+"#1", name+"#2". Only unquantized inputs (names without '#') are
// float32 tensors of the checkpoint's shape.
//
// The tensors stay owned by the model: the caller must not finalize them,
// and they are invalid after Close.
func (m *Model) GraphWeights() (names []string, ts []*tensors.Tensor, build func(in []*graph.Node) *Weights, err error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.params == nil {
		return nil, nil, nil, errClosedModel
	}
	for i, parts := range m.params {
		for j, t := range parts {
			n := m.specs[i].name
			if j > 0 {
				n += "#" + string(rune('0'+j))
			}
			names = append(names, n)
			ts = append(ts, t)
		}
	}
	lay := layout{cfg: m.cfg, specs: m.specs, storage: m.storage}
	return names, ts, lay.weights, nil
}
