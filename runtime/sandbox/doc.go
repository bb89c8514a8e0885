// Package sandbox runs model-written code (CodeAct) in a WebAssembly
// interpreter: by default Starlark, a Python dialect, compiled to wasip1 from
// plugins/interpreter/starlark/wasm and embedded in the binary (see
// [EmbeddedInterpreter]); any module of the interpreter plugin kind
// (sdk/ABI.md) can replace it through [Options.Interpreter].
//
// A [Sandbox] owns a wasmhost.Host, the interpreter loaded once, and a pool
// of started interpreter instances. [Sandbox.Start] hands one to an
// [Episode]: successive [Episode.Run] calls share its globals, and
// [Episode.Close] discards it or, after a clean episode, has the interpreter
// reset it for a later episode, so no state crosses episodes. [Run] does all
// of this for one program.
//
// # Containment
//
// The code has no file system, network, environment, clock or randomness:
// the interpreter offers none, and the host grants its module none. It gets
// out only by printing, by final_answer(x), and by calling tools, which cross
// the boundary as toolbrain_call_tool host calls routed to Options.Tools
// (which check their arguments against their schemas: runtime/schema),
// capped per episode (MaxToolCalls) and in size (MaxToolArgBytes).
// Each Run is bounded by an execution-step cap (deterministic: the same code
// stops at the same step everywhere), a wall-clock timeout, a memory cap and
// an output cap. A Run that breaks the timeout or the memory cap loses its
// interpreter; the episode goes on with a fresh one and the next Result says
// StateLost. The code's failures are Results with Err set, never Go errors,
// so that the agent can show them to the model.
//
// # Why a pool
//
// Starting a Go wasip1 module runs the Go runtime's initialisation, tens of
// milliseconds; a CodeAct episode often lasts less. The pool starts
// instances ahead of time in the background, so taking one costs a channel
// receive. A pooled instance has run nothing, or has been reset (below), so
// handing it out is as clean as starting one.
//
// # Why reuse
//
// A G = 8 group of episodes needs eight instances at once, and each start
// costs more CPU than the model's share of a short episode (the start grows
// and fills a fresh linear memory of tens of MB). So an instance whose
// episode finished cleanly is reset by the interpreter (interpret_reset: a
// new Starlark session; the old one's is garbage) and serves the next
// episode; one whose episode trapped, timed out, broke a limit or failed in
// the host is discarded, as is one grown past half the memory cap or one
// that has served Options.MaxEpisodesPerInstance episodes. The code cannot
// read memory it holds no reference to, so after the reset the previous
// episode's garbage is as unreachable as another instance's memory.
package sandbox
