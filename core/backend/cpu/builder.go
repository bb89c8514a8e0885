package cpu

import (
	"fmt"
	"reflect"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/notimplemented"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Builder records a graph's nodes. Ops it does not implement come from the
// embedded notimplemented.Builder and fail with unsupportedOp's error.
type Builder struct {
	notimplemented.Builder
	backend  *Backend
	name     string
	nodes    []*node
	params   []*node
	compiled bool
}

var _ backends.Builder = (*Builder)(nil)

// node is one op of the graph. run computes its output from its inputs'
// values (in the order of inputs); parameters and constants have none.
type node struct {
	id      int
	op      backends.OpType
	shape   shapes.Shape
	inputs  []*node
	builder *Builder
	run     func(ins []*buffer) *buffer
	// param is the parameter's position, or -1.
	param    int
	name     string
	constant *buffer
	// alias: the output may share its first input's storage (Reshape,
	// Identity), so it is copied before it leaves the executable.
	alias bool
	// inPlace, when set, computes the same value as run but writes it into
	// ins[0]'s storage instead of a new buffer (returned with the node's
	// shape). The executor calls it only when no one reads that storage
	// afterwards: see Executable.canReuse.
	inPlace func(ins []*buffer) *buffer
	// splits: run divides its work over the backend's workers once the
	// op is large enough (parallel.go, the GEMM).
	splits bool
	// attrs are the op's parameters where a later op's build may need
	// them to recognise a pattern (see coded.go, dot.go): *gatherAttrs
	// for Gather, the view for BroadcastInDim and Slice.
	attrs any
}

// implemented is every op the builder accepts; Capabilities reports it.
var implemented = map[backends.OpType]bool{
	backends.OpTypeParameter: true, backends.OpTypeConstant: true,
}

func newBuilder(b *Backend, name string) *Builder {
	bl := &Builder{backend: b, name: name}
	bl.ErrFn = unsupportedOp
	return bl
}

// unsupportedOp is the error for an op the backend does not implement.
func unsupportedOp(op backends.OpType) error {
	return fmt.Errorf("%w: op %s is not implemented by the %q backend (use backend = \"go\" for graphs that need it)", ErrUnsupported, op, Name)
}

// unsupportedDType is the error for an op given a dtype it does not handle.
func unsupportedDType(op backends.OpType, dt dtypes.DType) error {
	return fmt.Errorf("%w: op %s on dtype %s is not implemented by the %q backend (use backend = \"go\" for graphs that need it)", ErrUnsupported, op, dt, Name)
}

func (b *Builder) Name() string { return b.name }

// nodesOf checks that every op is a node of this builder.
func (b *Builder) nodesOf(op backends.OpType, ops ...backends.Op) ([]*node, error) {
	if b.compiled {
		return nil, fmt.Errorf("cpu backend: %s on builder %q after Compile", op, b.name)
	}
	ns := make([]*node, len(ops))
	for i, o := range ops {
		n, ok := o.(*node)
		if !ok || n == nil || n.builder != b {
			return nil, fmt.Errorf("cpu backend: %s: operand #%d (%T) is not a node of builder %q", op, i, o, b.name)
		}
		ns[i] = n
	}
	return ns, nil
}

// add appends a node computed by run from inputs.
func (b *Builder) add(op backends.OpType, shape shapes.Shape, inputs []*node, run func(ins []*buffer) *buffer) *node {
	n := &node{id: len(b.nodes), op: op, shape: shape, inputs: inputs, builder: b, run: run, param: -1}
	b.nodes = append(b.nodes, n)
	return n
}

// addSplitting is add for an op whose run splits its own work over the
// workers when large.
func (b *Builder) addSplitting(op backends.OpType, shape shapes.Shape, inputs []*node, run func(ins []*buffer) *buffer) *node {
	n := b.add(op, shape, inputs, run)
	n.splits = true
	return n
}

func (b *Builder) OpShape(op backends.Op) (shapes.Shape, error) {
	ns, err := b.nodesOf(backends.OpTypeInvalid, op)
	if err != nil {
		return shapes.Invalid(), err
	}
	return ns[0].shape, nil
}

func (b *Builder) Parameter(name string, shape shapes.Shape, sharding *backends.ShardingSpec) (backends.Op, error) {
	if sharding != nil {
		return nil, fmt.Errorf("%w: parameter %q: sharding (the %q backend has one device)", ErrUnsupported, name, Name)
	}
	if !supportedDTypes[shape.DType] {
		return nil, unsupportedDType(backends.OpTypeParameter, shape.DType)
	}
	n := b.add(backends.OpTypeParameter, shape, nil, nil)
	n.param, n.name = len(b.params), name
	b.params = append(b.params, n)
	return n, nil
}

func (b *Builder) Constant(flat any, dims ...int) (backends.Op, error) {
	v := reflect.ValueOf(flat)
	if v.Kind() != reflect.Slice {
		return nil, fmt.Errorf("cpu backend: Constant wants a flat slice, got %T", flat)
	}
	dt := dtypes.FromGoType(v.Type().Elem())
	if !supportedDTypes[dt] {
		return nil, unsupportedDType(backends.OpTypeConstant, dt)
	}
	shape := shapes.Make(dt, dims...)
	if shape.Size() != v.Len() {
		return nil, fmt.Errorf("cpu backend: Constant of %d elements for dimensions %v", v.Len(), dims)
	}
	n := b.add(backends.OpTypeConstant, shape, nil, nil)
	n.constant = newBuffer(shape)
	reflect.Copy(reflect.ValueOf(n.constant.flat), v)
	return n, nil
}

func (b *Builder) DistributedSPMD(numDevices int) error {
	if numDevices == 1 {
		return nil
	}
	return fmt.Errorf("%w: %d devices (the %q backend has one)", ErrUnsupported, numDevices, Name)
}

func (b *Builder) DistributedAutoSharding(meshes ...backends.Mesh) error {
	return fmt.Errorf("%w: auto-sharding (the %q backend has one device)", ErrUnsupported, Name)
}

func (b *Builder) DeviceAssignment(devices ...backends.DeviceNum) error {
	for _, d := range devices {
		if d != 0 {
			return fmt.Errorf("%w: device %d (the %q backend has only device 0)", ErrUnsupported, d, Name)
		}
	}
	return nil
}

func (b *Builder) Identity(x backends.Op) (backends.Op, error) {
	ns, err := b.nodesOf(backends.OpTypeIdentity, x)
	if err != nil {
		return nil, err
	}
	n := b.add(backends.OpTypeIdentity, ns[0].shape, ns, func(ins []*buffer) *buffer { return ins[0] })
	n.alias = true
	return n, nil
}

func init() { implemented[backends.OpTypeIdentity] = true }
