package wasmhost

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/sdk"
)

// kernel is one instance's Extism memory: a byte arena addressed by offsets
// that the guest reaches only through load/store host calls. Offsets start at
// kernelBase so that 0 stays the null offset PDKs test for; blocks are 8-byte
// aligned so that load_u64 on a block's tail never crosses into the unused
// part of the arena. The arena is reset at the start of every call (Extism's
// reset), so a bump allocator suffices.
type kernel struct {
	arena  []byte
	blocks map[uint64]uint64 // offset → length
	limit  uint64            // arena bytes allowed (the memory limit)

	input          []byte // the call's input, also copied into the arena
	inputOff       uint64
	outOff, outLen uint64
	errOff         uint64
}

const kernelBase = 8

func (k *kernel) reset() {
	k.arena = k.arena[:kernelBase]
	clear(k.blocks)
	k.input, k.inputOff = nil, 0
	k.outOff, k.outLen, k.errOff = 0, 0, 0
}

// alloc returns the offset of n fresh bytes, or an error when the arena would
// pass its limit.
func (k *kernel) alloc(n uint64) (uint64, error) {
	off := uint64(len(k.arena))
	padded := (n + 7) &^ 7
	if padded < n || off+padded > k.limit {
		return 0, fmt.Errorf("%w: kernel alloc of %d bytes with %d in use, limit %d bytes", ErrMemoryLimit, n, off, k.limit)
	}
	if need := off + padded; need > uint64(cap(k.arena)) {
		grown := make([]byte, off, max(need, 2*uint64(cap(k.arena))))
		copy(grown, k.arena)
		k.arena = grown
	}
	k.arena = k.arena[:off+padded]
	clear(k.arena[off:])
	k.blocks[off] = n
	return off, nil
}

func (k *kernel) write(b []byte) (uint64, error) {
	off, err := k.alloc(uint64(len(b)))
	if err != nil {
		return 0, err
	}
	copy(k.arena[off:], b)
	return off, nil
}

// bytes returns the block at off, or an error for an offset that is not the
// start of a block.
func (k *kernel) bytes(off uint64) ([]byte, error) {
	n, ok := k.blocks[off]
	if !ok {
		return nil, fmt.Errorf("%w: offset %d is not an allocated block", ErrTrap, off)
	}
	return k.arena[off : off+n], nil
}

func (k *kernel) span(off, n uint64) ([]byte, error) {
	if off < kernelBase || off+n < off || off+n > uint64(len(k.arena)) {
		return nil, fmt.Errorf("%w: kernel access [%d, %d) outside %d bytes", ErrTrap, off, off+n, len(k.arena))
	}
	return k.arena[off : off+n], nil
}

// fail records why a host function is stopping the guest and panics, which
// wazero turns into a failed call. The recorded error, not wazero's wrapped
// panic value, is what the caller sees.
func (in *instance) fail(err error) {
	if in.callErr == nil {
		in.callErr = err
	}
	panic(err)
}

type ctxKey struct{}

func current(ctx context.Context) *instance {
	in, _ := ctx.Value(ctxKey{}).(*instance)
	if in == nil {
		// Only reachable if a module calls a host function outside Call,
		// from a start function for instance: there is no input then.
		panic(errors.New("toolbrain: host function called outside a plugin call"))
	}
	return in
}

var (
	i64  = api.ValueTypeI64
	i32  = api.ValueTypeI32
	none = []api.ValueType{}
)

// envFunctions lists extism:host/env, the functions upstream PDKs import.
func envFunctions() map[string]struct {
	fn      api.GoModuleFunc
	params  []api.ValueType
	results []api.ValueType
} {
	type def = struct {
		fn      api.GoModuleFunc
		params  []api.ValueType
		results []api.ValueType
	}
	m := map[string]def{}
	add := func(name string, params, results []api.ValueType, f func(in *instance, stack []uint64)) {
		m[name] = def{fn: func(ctx context.Context, _ api.Module, stack []uint64) { f(current(ctx), stack) }, params: params, results: results}
	}
	add("alloc", []api.ValueType{i64}, []api.ValueType{i64}, func(in *instance, s []uint64) {
		off, err := in.k.alloc(s[0])
		if err != nil {
			in.fail(err)
		}
		s[0] = off
	})
	add("free", []api.ValueType{i64}, none, func(in *instance, s []uint64) {})
	add("length", []api.ValueType{i64}, []api.ValueType{i64}, func(in *instance, s []uint64) {
		s[0] = in.k.blocks[s[0]] // 0 for an unknown offset, as Extism's kernel does
	})
	add("length_unsafe", []api.ValueType{i64}, []api.ValueType{i64}, func(in *instance, s []uint64) {
		s[0] = in.k.blocks[s[0]]
	})
	add("load_u8", []api.ValueType{i64}, []api.ValueType{i32}, func(in *instance, s []uint64) {
		b, err := in.k.span(s[0], 1)
		if err != nil {
			in.fail(err)
		}
		s[0] = uint64(b[0])
	})
	add("load_u64", []api.ValueType{i64}, []api.ValueType{i64}, func(in *instance, s []uint64) {
		b, err := in.k.span(s[0], 8)
		if err != nil {
			in.fail(err)
		}
		s[0] = binary.LittleEndian.Uint64(b)
	})
	add("store_u8", []api.ValueType{i64, i32}, none, func(in *instance, s []uint64) {
		b, err := in.k.span(s[0], 1)
		if err != nil {
			in.fail(err)
		}
		b[0] = byte(s[1])
	})
	add("store_u64", []api.ValueType{i64, i64}, none, func(in *instance, s []uint64) {
		b, err := in.k.span(s[0], 8)
		if err != nil {
			in.fail(err)
		}
		binary.LittleEndian.PutUint64(b, s[1])
	})
	add("input_length", none, []api.ValueType{i64}, func(in *instance, s []uint64) { s[0] = uint64(len(in.k.input)) })
	add("input_offset", none, []api.ValueType{i64}, func(in *instance, s []uint64) { s[0] = in.k.inputOff })
	add("input_load_u8", []api.ValueType{i64}, []api.ValueType{i32}, func(in *instance, s []uint64) {
		if s[0] >= uint64(len(in.k.input)) {
			in.fail(fmt.Errorf("%w: input_load_u8 at %d past input of %d bytes", ErrTrap, s[0], len(in.k.input)))
		}
		s[0] = uint64(in.k.input[s[0]])
	})
	add("input_load_u64", []api.ValueType{i64}, []api.ValueType{i64}, func(in *instance, s []uint64) {
		// PDKs read the input in 8-byte words and the tail with
		// input_load_u8, but a word that straddles the end reads zeros.
		i, n := s[0], uint64(len(in.k.input))
		if i >= n {
			in.fail(fmt.Errorf("%w: input_load_u64 at %d past input of %d bytes", ErrTrap, i, n))
		}
		if i+8 <= n {
			s[0] = binary.LittleEndian.Uint64(in.k.input[i:])
			return
		}
		var w [8]byte
		copy(w[:], in.k.input[i:])
		s[0] = binary.LittleEndian.Uint64(w[:])
	})
	add("input_set", []api.ValueType{i64, i64}, none, func(in *instance, s []uint64) {
		b, err := in.k.span(s[0], s[1])
		if err != nil {
			in.fail(err)
		}
		in.k.input, in.k.inputOff = b, s[0]
	})
	add("output_set", []api.ValueType{i64, i64}, none, func(in *instance, s []uint64) {
		if s[1] > uint64(in.limits.MaxOutputBytes) {
			in.fail(fmt.Errorf("%w: output of %d bytes, limit %d", contract.ErrOutputLimit, s[1], in.limits.MaxOutputBytes))
		}
		if _, err := in.k.span(s[0], s[1]); err != nil && s[1] > 0 {
			in.fail(err)
		}
		in.k.outOff, in.k.outLen = s[0], s[1]
	})
	add("output_length", none, []api.ValueType{i64}, func(in *instance, s []uint64) { s[0] = in.k.outLen })
	add("output_offset", none, []api.ValueType{i64}, func(in *instance, s []uint64) { s[0] = in.k.outOff })
	add("error_set", []api.ValueType{i64}, none, func(in *instance, s []uint64) { in.k.errOff = s[0] })
	add("error_get", none, []api.ValueType{i64}, func(in *instance, s []uint64) { s[0] = in.k.errOff })
	add("reset", none, none, func(in *instance, s []uint64) { in.k.reset() })
	add("memory_bytes", none, []api.ValueType{i64}, func(in *instance, s []uint64) { s[0] = uint64(len(in.k.arena)) })
	add("config_get", []api.ValueType{i64}, []api.ValueType{i64}, func(in *instance, s []uint64) {
		in.need(sdk.PermissionConfig, "config_get")
		key, err := in.k.bytes(s[0])
		if err != nil {
			in.fail(err)
		}
		v, ok := in.p.config[string(key)]
		if !ok {
			s[0] = 0
			return
		}
		if s[0], err = in.k.write([]byte(v)); err != nil {
			in.fail(err)
		}
	})
	add("var_get", []api.ValueType{i64}, []api.ValueType{i64}, func(in *instance, s []uint64) {
		key, err := in.k.bytes(s[0])
		if err != nil {
			in.fail(err)
		}
		in.vars.mu.Lock()
		v, ok := in.vars.m[string(key)]
		in.vars.mu.Unlock()
		if !ok {
			s[0] = 0
			return
		}
		if s[0], err = in.k.write(v); err != nil {
			in.fail(err)
		}
	})
	add("var_set", []api.ValueType{i64, i64}, none, func(in *instance, s []uint64) {
		key, err := in.k.bytes(s[0])
		if err != nil {
			in.fail(err)
		}
		in.vars.mu.Lock()
		defer in.vars.mu.Unlock()
		if s[1] == 0 {
			delete(in.vars.m, string(key))
			return
		}
		v, err := in.k.bytes(s[1])
		if err != nil {
			in.fail(err)
		}
		size := len(v)
		for k, old := range in.vars.m {
			if k != string(key) {
				size += len(old)
			}
		}
		if size > maxVarBytes {
			in.fail(fmt.Errorf("%w: vars would hold %d bytes, limit %d", ErrMemoryLimit, size, maxVarBytes))
		}
		in.vars.m[string(key)] = append([]byte(nil), v...)
	})
	add("http_request", []api.ValueType{i64, i64}, []api.ValueType{i64}, func(in *instance, s []uint64) {
		in.fail(fmt.Errorf("%w: http_request: this host grants no network access to plugins", sdk.ErrPermissionDenied))
	})
	add("http_status_code", none, []api.ValueType{i32}, func(in *instance, s []uint64) { s[0] = 0 })
	add("http_headers", none, []api.ValueType{i64}, func(in *instance, s []uint64) { s[0] = 0 })
	add("get_log_level", none, []api.ValueType{i32}, func(in *instance, s []uint64) {
		// Extism levels: 0 trace, 1 debug, 2 info, 3 warn, 4 error, MaxInt32 off.
		if !in.perms.Has(sdk.PermissionLog) {
			s[0] = uint64(int32(0x7fffffff))
			return
		}
		s[0] = 1
	})
	for name, level := range map[string]slog.Level{
		"log_trace": slog.LevelDebug - 4, "log_debug": slog.LevelDebug, "log_info": slog.LevelInfo,
		"log_warn": slog.LevelWarn, "log_error": slog.LevelError,
	} {
		fn := name
		add(name, []api.ValueType{i64}, none, func(in *instance, s []uint64) {
			in.need(sdk.PermissionLog, fn)
			msg, err := in.k.bytes(s[0])
			if err != nil {
				in.fail(err)
			}
			in.p.host.logger.Log(in.ctx, level, string(msg), "plugin", in.p.name)
		})
	}
	return m
}

// maxVarBytes caps the plugin-wide variables set with var_set.
const maxVarBytes = 1 << 20

// need fails the call unless the permission is granted.
func (in *instance) need(perm, fn string) {
	if !in.perms.Has(perm) {
		in.fail(fmt.Errorf("%w: %s needs permission %q, which the plugin's manifest did not ask for or the configuration did not grant",
			sdk.ErrPermissionDenied, fn, perm))
	}
}

// userFunctions lists ToolBrain's own host functions (sdk.HostNamespace).
func userFunctions(h *Host) map[string]api.GoModuleFunc {
	return map[string]api.GoModuleFunc{
		sdk.HostCallTool: func(ctx context.Context, _ api.Module, s []uint64) {
			in := current(ctx)
			in.need(sdk.PermissionTool, sdk.HostCallTool)
			var req sdk.ToolCallRequest
			in.decodeArg(s[0], &req)
			if h.cfg.Tools == nil {
				in.fail(fmt.Errorf("%w: %s: no tools are configured on this host", sdk.ErrPermissionDenied, sdk.HostCallTool))
			}
			resp, err := h.cfg.Tools.CallTool(ctx, req)
			if err != nil {
				// A failing tool is the plugin's business, not a trap.
				resp = sdk.ToolCallResponse{Content: err.Error(), IsError: true}
			}
			s[0] = in.encodeResult(resp)
		},
		sdk.HostLLM: func(ctx context.Context, _ api.Module, s []uint64) {
			in := current(ctx)
			in.need(sdk.PermissionLLM, sdk.HostLLM)
			var req sdk.LLMRequest
			in.decodeArg(s[0], &req)
			if h.cfg.LLM == nil {
				in.fail(fmt.Errorf("%w: %s: no judge model is configured on this host", sdk.ErrPermissionDenied, sdk.HostLLM))
			}
			resp, err := h.cfg.LLM.Complete(ctx, req)
			if err != nil {
				in.fail(fmt.Errorf("%s: %w", sdk.HostLLM, err))
			}
			s[0] = in.encodeResult(resp)
		},
	}
}

// Bulk-copy host functions (extism:host/user), a ToolBrain extension of the
// Extism ABI: the input enters and the output leaves the plugin's own linear
// memory in one call each.
//
// # Why
//
// Extism's ABI moves bytes through kernel memory eight at a time
// (input_load_u64, store_u64), one host call each. A host call from wasm
// costs 100 to 200 ns under wazero, so a 2 KB input took a Go plugin 50 µs
// of its 60 µs reward budget before it read a byte. Plugins that keep to the
// Extism functions load and run unchanged; these only add a fast path.
const (
	// HostInputRead is toolbrain_input_read(dst i64, n i64) -> i64: copy
	// the first min(n, input length) bytes of the call's input to the
	// plugin's linear memory at dst, and return the input length (so that
	// a plugin whose buffer was short can grow it and read again).
	HostInputRead = "toolbrain_input_read"
	// HostOutputWrite is toolbrain_output_write(src i64, n i64): set the
	// call's output to the n bytes of the plugin's linear memory at src
	// (alloc, store and output_set in one).
	HostOutputWrite = "toolbrain_output_write"
)

type bulkFunction struct {
	fn      api.GoModuleFunc
	params  []api.ValueType
	results []api.ValueType
}

func bulkFunctions() map[string]bulkFunction {
	return map[string]bulkFunction{
		HostInputRead: {params: []api.ValueType{i64, i64}, results: []api.ValueType{i64},
			fn: func(ctx context.Context, mod api.Module, s []uint64) {
				in := current(ctx)
				dst, n := s[0], min(s[1], uint64(len(in.k.input)))
				if dst > math.MaxUint32 || !mod.Memory().Write(uint32(dst), in.k.input[:n]) {
					in.fail(fmt.Errorf("%w: %s: [%d, %d) is outside the plugin's memory of %d bytes", ErrTrap, HostInputRead, dst, dst+n, mod.Memory().Size()))
				}
				s[0] = uint64(len(in.k.input))
			}},
		HostOutputWrite: {params: []api.ValueType{i64, i64}, results: none,
			fn: func(ctx context.Context, mod api.Module, s []uint64) {
				in := current(ctx)
				src, n := s[0], s[1]
				if n > uint64(in.limits.MaxOutputBytes) {
					in.fail(fmt.Errorf("%w: output of %d bytes, limit %d", contract.ErrOutputLimit, n, in.limits.MaxOutputBytes))
				}
				var b []byte
				ok := src <= math.MaxUint32 && n <= math.MaxUint32
				if ok {
					b, ok = mod.Memory().Read(uint32(src), uint32(n))
				}
				if !ok {
					in.fail(fmt.Errorf("%w: %s: [%d, %d) is outside the plugin's memory of %d bytes", ErrTrap, HostOutputWrite, src, src+n, mod.Memory().Size()))
				}
				off, err := in.k.write(b)
				if err != nil {
					in.fail(err)
				}
				in.k.outOff, in.k.outLen = off, n
			}},
	}
}

func defineHostModules(ctx context.Context, h *Host, rt wazero.Runtime) error {
	env := rt.NewHostModuleBuilder("extism:host/env")
	for name, d := range envFunctions() {
		env.NewFunctionBuilder().WithGoModuleFunction(d.fn, d.params, d.results).Export(name)
	}
	if _, err := env.Instantiate(ctx); err != nil {
		return fmt.Errorf("define extism:host/env: %w", err)
	}
	user := rt.NewHostModuleBuilder(sdk.HostNamespace)
	for name, fn := range userFunctions(h) {
		user.NewFunctionBuilder().WithGoModuleFunction(fn, []api.ValueType{i64}, []api.ValueType{i64}).Export(name)
	}
	for name, d := range bulkFunctions() {
		user.NewFunctionBuilder().WithGoModuleFunction(d.fn, d.params, d.results).Export(name)
	}
	if _, err := user.Instantiate(ctx); err != nil {
		return fmt.Errorf("define %s: %w", sdk.HostNamespace, err)
	}
	return nil
}

// knownImport reports whether the host offers module.name with the given
// signature.
func knownImport(f api.FunctionDefinition) error {
	module, name, _ := f.Import()
	var params, results []api.ValueType
	switch module {
	case "extism:host/env":
		d, ok := envFunctions()[name]
		if !ok {
			return fmt.Errorf("%w: %s.%s", ErrUnknownImport, module, name)
		}
		params, results = d.params, d.results
	case sdk.HostNamespace:
		if d, ok := bulkFunctions()[name]; ok {
			params, results = d.params, d.results
			break
		}
		if name != sdk.HostCallTool && name != sdk.HostLLM {
			return fmt.Errorf("%w: %s.%s (this host offers %s, %s, %s and %s)", ErrUnknownImport, module, name, sdk.HostCallTool, sdk.HostLLM, HostInputRead, HostOutputWrite)
		}
		params, results = []api.ValueType{i64}, []api.ValueType{i64}
	case "wasi_snapshot_preview1":
		return nil // wazero checks these names itself at instantiation
	default:
		return fmt.Errorf("%w: %s.%s", ErrUnknownImport, module, name)
	}
	if !equalTypes(f.ParamTypes(), params) || !equalTypes(f.ResultTypes(), results) {
		return fmt.Errorf("%w: %s.%s has signature %v -> %v, the host's is %v -> %v",
			ErrUnknownImport, module, name, typeNames(f.ParamTypes()), typeNames(f.ResultTypes()), typeNames(params), typeNames(results))
	}
	return nil
}

func equalTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func typeNames(ts []api.ValueType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = api.ValueTypeName(t)
	}
	return out
}
