package cpu

import (
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestScatterInPlace: a scatter writes into its operand's storage only
// when nothing can observe it (a donated input or a dead intermediate),
// and gives the same values as the copying path in every case.
func TestScatterInPlace(t *testing.T) {
	xs := []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11} // [4, 3]
	rows := []int32{1, 3}
	upd := []float32{100, 200, 300, 400, 500, 600} // [2, 3]
	scattered := slices.Clone(xs)
	for j, r := range rows {
		for c := range 3 {
			scattered[int(r)*3+c] += upd[j*3+c]
		}
	}
	plus := func(a, b []float32) []float32 {
		out := make([]float32, len(a))
		for i := range a {
			out[i] = a[i] + b[i]
		}
		return out
	}
	doubled := plus(xs, xs)
	scatteredDoubled := slices.Clone(doubled)
	for j, r := range rows {
		for c := range 3 {
			scatteredDoubled[int(r)*3+c] += upd[j*3+c]
		}
	}

	x2 := shapes.Make(dtypes.Float32, 4, 3)
	// scatter adds upd at rows of operand ([4, 3]).
	scatter := func(t *testing.T, b *Builder, operand backends.Op) backends.Op {
		t.Helper()
		idx := must(t)(b.Constant(slices.Clone(rows), 2, 1))
		u := must(t)(b.Constant(slices.Clone(upd), 2, 3))
		return must(t)(b.ScatterSum(operand, idx, u, 1, []int{1}, []int{0}, []int{0}, false, false))
	}
	tests := []struct {
		name   string
		params []shapes.Shape
		// sameInput: every parameter gets the same buffer.
		sameInput bool
		donate    []bool
		build     func(t *testing.T, b *Builder, ps []backends.Op) []backends.Op
		want      [][]float32
		// inPlace: the first output must live in the first input's storage.
		inPlace bool
	}{
		{
			name: "donated input", params: []shapes.Shape{x2}, donate: []bool{true},
			build: func(t *testing.T, b *Builder, ps []backends.Op) []backends.Op {
				return []backends.Op{scatter(t, b, ps[0])}
			},
			want:    [][]float32{scattered},
			inPlace: true,
		},
		{
			name: "kept input", params: []shapes.Shape{x2}, donate: []bool{false},
			build: func(t *testing.T, b *Builder, ps []backends.Op) []backends.Op {
				return []backends.Op{scatter(t, b, ps[0])}
			},
			want: [][]float32{scattered},
		},
		{
			name: "donated input read after the scatter", params: []shapes.Shape{x2}, donate: []bool{true},
			build: func(t *testing.T, b *Builder, ps []backends.Op) []backends.Op {
				return []backends.Op{must(t)(b.Add(scatter(t, b, ps[0]), ps[0]))}
			},
			want: [][]float32{plus(scattered, xs)},
		},
		{
			name: "donated input that is also an output", params: []shapes.Shape{x2}, donate: []bool{true},
			build: func(t *testing.T, b *Builder, ps []backends.Op) []backends.Op {
				return []backends.Op{scatter(t, b, ps[0]), ps[0]}
			},
			want: [][]float32{scattered, xs},
		},
		{
			name: "donated input through a reshape", params: []shapes.Shape{shapes.Make(dtypes.Float32, 12)}, donate: []bool{true},
			build: func(t *testing.T, b *Builder, ps []backends.Op) []backends.Op {
				return []backends.Op{scatter(t, b, must(t)(b.Reshape(ps[0], 4, 3)))}
			},
			want:    [][]float32{scattered},
			inPlace: true,
		},
		{
			name: "one buffer given twice, donated once", params: []shapes.Shape{x2, x2}, sameInput: true, donate: []bool{true, false},
			build: func(t *testing.T, b *Builder, ps []backends.Op) []backends.Op {
				return []backends.Op{scatter(t, b, ps[0]), must(t)(b.Add(ps[1], ps[1]))}
			},
			want: [][]float32{scattered, doubled},
		},
		{
			name: "dead intermediate", params: []shapes.Shape{x2}, donate: []bool{false},
			build: func(t *testing.T, b *Builder, ps []backends.Op) []backends.Op {
				return []backends.Op{scatter(t, b, must(t)(b.Add(ps[0], ps[0])))}
			},
			want: [][]float32{scatteredDoubled},
		},
		{
			name: "intermediate read after the scatter", params: []shapes.Shape{x2}, donate: []bool{false},
			build: func(t *testing.T, b *Builder, ps []backends.Op) []backends.Op {
				y := must(t)(b.Add(ps[0], ps[0]))
				return []backends.Op{scatter(t, b, y), y}
			},
			want: [][]float32{scatteredDoubled, doubled},
		},
		{
			name: "operand is also the updates", params: []shapes.Shape{x2}, donate: []bool{true},
			build: func(t *testing.T, b *Builder, ps []backends.Op) []backends.Op {
				idx := must(t)(b.Constant([]int32{0, 0, 1, 1}, 4, 1))
				return []backends.Op{must(t)(b.ScatterSum(ps[0], idx, ps[0], 1, []int{1}, []int{0}, []int{0}, false, false))}
			},
			want: [][]float32{{0 + 0 + 3, 1 + 1 + 4, 2 + 2 + 5, 3 + 6 + 9, 4 + 7 + 10, 5 + 8 + 11, 6, 7, 8, 9, 10, 11}},
		},
	}
	for _, tt := range tests {
		for _, config := range []string{"", "inplace=false", "interop=all"} {
			t.Run(tt.name+"/"+config, func(t *testing.T) {
				be, err := New(config)
				if err != nil {
					t.Fatal(err)
				}
				defer be.Finalize()
				b := newBuilder(be, tt.name)
				var ps []backends.Op
				for k, s := range tt.params {
					ps = append(ps, must(t)(b.Parameter(string(rune('a'+k)), s, nil)))
				}
				exe, err := b.Compile(tt.build(t, b, ps), nil)
				if err != nil {
					t.Fatal(err)
				}
				var ins []backends.Buffer
				var flats [][]float32
				for k := range tt.params {
					if tt.sameInput && k > 0 {
						ins, flats = append(ins, ins[0]), append(flats, flats[0])
						continue
					}
					buf, flat, err := be.NewSharedBuffer(0, tt.params[k])
					if err != nil {
						t.Fatal(err)
					}
					copy(flat.([]float32), xs)
					ins, flats = append(ins, buf), append(flats, flat.([]float32))
				}
				outs, err := exe.Execute(ins, tt.donate, 0)
				if err != nil {
					t.Fatal(err)
				}
				for i, want := range tt.want {
					got := outs[i].(*buffer).flat.([]float32)
					if !slices.Equal(got, want) {
						t.Errorf("output #%d = %v, want %v", i, got, want)
					}
				}
				for k, d := range tt.donate {
					if !d && !slices.Equal(flats[k], xs) {
						t.Errorf("input #%d was not donated but changed to %v", k, flats[k])
					}
				}
				inPlace := &outs[0].(*buffer).flat.([]float32)[0] == &flats[0][0]
				if want := tt.inPlace && config != "inplace=false"; inPlace != want {
					t.Errorf("output #0 in input #0's storage: %v, want %v", inPlace, want)
				}
				if inPlace {
					if err := be.BufferFinalize(ins[0]); err != nil {
						t.Errorf("finalizing the donated input: %v", err)
					}
					if got := outs[0].(*buffer).flat.([]float32); !slices.Equal(got, tt.want[0]) {
						t.Errorf("after finalizing the donated input, output #0 = %v", got)
					}
				}
			})
		}
	}
}

func must(t *testing.T) func(backends.Op, error) backends.Op {
	return func(op backends.Op, err error) backends.Op {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
}
