package cpu

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

func init() { implemented[backends.OpTypeRNGBitGenerator] = true }

// RNGBitGenerator fills shape with random bits drawn from a PCG stream
// keyed by the state, and returns the state advanced by one. The bits are
// not those of XLA's or simplego's generator (no test may depend on exact
// random values across backends), but the same state always gives the
// same bits, so a resumed run repeats its random draws.
func (b *Builder) RNGBitGenerator(state backends.Op, shape shapes.Shape) (backends.Op, backends.Op, error) {
	op := backends.OpTypeRNGBitGenerator
	ns, err := b.nodesOf(op, state)
	if err != nil {
		return nil, nil, err
	}
	if !ns[0].shape.Equal(backends.RNGStateShape) {
		return nil, nil, fmt.Errorf("cpu backend: RNGBitGenerator state %s, want %s", ns[0].shape, backends.RNGStateShape)
	}
	if !supportedDTypes[shape.DType] || shape.DType == dtypes.Bool {
		return nil, nil, unsupportedDType(op, shape.DType)
	}
	next := b.add(op, backends.RNGStateShape, ns, func(args []*buffer) *buffer {
		s := args[0].flat.([]uint64)
		o := b.backend.alloc(backends.RNGStateShape)
		copy(o.flat.([]uint64), []uint64{s[0], s[1], s[2] + 1})
		return o
	})
	values := b.add(op, shape, ns, func(args []*buffer) *buffer {
		s := args[0].flat.([]uint64)
		rng := rand.New(rand.NewPCG(s[0]^s[2]*0x9e3779b97f4a7c15, s[1]))
		o := b.backend.alloc(shape)
		raw := rawBytes(o)
		var word [8]byte
		for i := 0; i < len(raw); i += 8 {
			binary.LittleEndian.PutUint64(word[:], rng.Uint64())
			copy(raw[i:], word[:])
		}
		return o
	})
	return next, values, nil
}
