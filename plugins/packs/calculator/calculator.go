// Package calculator is the example tool pack: two tools, arith and sqrt,
// implemented once in Go and built both as a native sdk.Tool (this package)
// and as the pack's WebAssembly module (./wasm, with the Extism Go PDK).
// toolpack.toml beside this file declares the tools and their JSON Schemas;
// the runtime validates arguments against them before the module is called,
// so the module checks only what a schema cannot say (division by zero).
package calculator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/toolbrain/toolbrain/sdk"
)

// Calculator serves the pack's tools. The zero value is ready and it is
// safe for concurrent use.
type Calculator struct{}

var _ sdk.Tool = Calculator{}

// CallTool implements sdk.Tool. A result the model should read as a failure
// (division by zero, unknown tool, bad arguments) comes back with IsError;
// the error return is for failures of the tool itself, of which this one
// has none.
func (Calculator) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	x, err := call(req)
	if err != nil {
		return sdk.ToolCallResponse{Content: err.Error(), IsError: true}, nil
	}
	s := strconv.FormatFloat(x, 'g', -1, 64)
	return sdk.ToolCallResponse{Content: s, Data: json.RawMessage(s)}, nil
}

func call(req sdk.ToolCallRequest) (float64, error) {
	switch req.Name {
	case "arith":
		var args struct {
			Op string   `json:"op"`
			A  *float64 `json:"a"`
			B  *float64 `json:"b"`
		}
		if err := decode(req.Arguments, &args); err != nil {
			return 0, err
		}
		if args.A == nil || args.B == nil {
			return 0, fmt.Errorf("arith needs a and b")
		}
		var x float64
		switch args.Op {
		case "add":
			x = *args.A + *args.B
		case "sub":
			x = *args.A - *args.B
		case "mul":
			x = *args.A * *args.B
		case "div":
			if *args.B == 0 {
				return 0, fmt.Errorf("division by zero")
			}
			x = *args.A / *args.B
		default:
			return 0, fmt.Errorf("unknown op %q; want add, sub, mul or div", args.Op)
		}
		if math.IsInf(x, 0) {
			return 0, fmt.Errorf("result overflows a float64")
		}
		return x, nil
	case "sqrt":
		var args struct {
			X *float64 `json:"x"`
		}
		if err := decode(req.Arguments, &args); err != nil {
			return 0, err
		}
		if args.X == nil || *args.X < 0 {
			return 0, fmt.Errorf("sqrt needs x >= 0")
		}
		return math.Sqrt(*args.X), nil
	}
	return 0, fmt.Errorf("unknown tool %q; this pack has arith and sqrt", req.Name)
}

// decode reads a JSON object into v; anything else is the caller's mistake.
func decode(args json.RawMessage, v any) error {
	if len(args) == 0 || args[0] != '{' {
		return fmt.Errorf("arguments must be a JSON object")
	}
	if err := json.Unmarshal(args, v); err != nil {
		return fmt.Errorf("bad arguments: %w", err)
	}
	return nil
}
