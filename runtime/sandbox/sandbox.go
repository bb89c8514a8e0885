package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// Defaults for the zero fields of [Options].
const (
	DefaultTimeout        = 5 * time.Second
	DefaultMaxSteps       = 10_000_000
	DefaultMemoryPages    = 1024 // 64 MiB
	DefaultMaxOutputBytes = 64 << 10
	DefaultMaxToolCalls   = 100
	DefaultMaxToolArgs    = 64 << 10
	DefaultMaxCodeBytes   = 256 << 10
	DefaultPoolSize       = 4
	// DefaultMaxEpisodesPerInstance is how many episodes one interpreter
	// instance serves, one after another, when it finishes each cleanly.
	DefaultMaxEpisodesPerInstance = 64
)

// Options configure a [Sandbox]. The zero value works when the binary embeds
// the interpreter: no tools, default limits.
type Options struct {
	// Interpreter is the interpreter module (any plugin of kind
	// interpreter, sdk/ABI.md); nil means the embedded Starlark one.
	Interpreter []byte
	// Name names the interpreter in errors; "" means "interpreter-starlark".
	Name string
	// CacheDir keeps the compiled module on disk across processes: the
	// first compile of the 7 MB Starlark module takes seconds, a cached
	// one tens of milliseconds. "" compiles once per process.
	CacheDir string

	// ToolSpecs are the tools the code may call, each a function named
	// after the tool; Tools runs them. The sandbox checks names, sizes and
	// the per-episode cap; checking arguments against the schemas is the
	// tool's job (a pack's and an MCP server's tools do it; wrap in-process
	// tools with runtime/schema.Checked), so that a call is validated once
	// whoever makes it (docs/ARCHITECTURE.md, "Tools").
	ToolSpecs []sdk.ToolSpec
	Tools     sdk.Tool

	// Timeout is the wall-clock limit of one Run.
	Timeout time.Duration
	// MaxSteps caps the interpreter's execution steps per Run: the
	// deterministic CPU limit (the same code stops at the same step on
	// every machine).
	MaxSteps int64
	// MemoryPages caps the interpreter's memory in 64 KiB pages.
	MemoryPages uint32
	// MaxOutputBytes caps what one Run may print, and the final answer.
	MaxOutputBytes int
	// MaxToolCalls caps tool calls per episode (refused calls count).
	MaxToolCalls int
	// MaxToolArgBytes caps the JSON arguments of one tool call.
	MaxToolArgBytes int
	// MaxCodeBytes caps the code of one Run.
	MaxCodeBytes int
	// PoolSize is how many started interpreters wait for the next
	// episodes, refilled in the background; negative means none (each
	// episode starts its own).
	PoolSize int
	// MaxEpisodesPerInstance is how many episodes one interpreter instance
	// may serve, one after another. An instance goes to a later episode
	// only after its episode finished cleanly (no trap, timeout, memory,
	// output or step limit, no failure of the interpreter or the host, the
	// episode's memory under half of MemoryPages) and the interpreter's
	// reset (sdk.InterpreterResetFunction) dropped the episode's state; an
	// interpreter that exports no reset is never reused. 0 means
	// DefaultMaxEpisodesPerInstance; 1 gives every episode a fresh
	// instance.
	MaxEpisodesPerInstance int
	// Logger receives the pool's failures to start an interpreter (they
	// are retried with a growing pause); nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Interpreter == nil {
		b, err := EmbeddedInterpreter()
		if err != nil {
			return o, err
		}
		o.Interpreter = b
	}
	if o.Name == "" {
		o.Name = "interpreter-starlark"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxSteps == 0 {
		o.MaxSteps = DefaultMaxSteps
	}
	if o.MemoryPages == 0 {
		o.MemoryPages = DefaultMemoryPages
	}
	def(&o.MaxOutputBytes, DefaultMaxOutputBytes)
	def(&o.MaxToolCalls, DefaultMaxToolCalls)
	def(&o.MaxToolArgBytes, DefaultMaxToolArgs)
	def(&o.MaxCodeBytes, DefaultMaxCodeBytes)
	def(&o.PoolSize, DefaultPoolSize)
	def(&o.MaxEpisodesPerInstance, DefaultMaxEpisodesPerInstance)
	if o.Timeout < 0 || o.MaxSteps < 0 || o.MaxOutputBytes < 0 || o.MaxToolCalls < 0 || o.MaxToolArgBytes < 0 || o.MaxCodeBytes < 0 || o.MaxEpisodesPerInstance < 0 {
		return o, fmt.Errorf("sandbox: %w: negative limit", contract.ErrBadConfig)
	}
	if len(o.ToolSpecs) > 0 && o.Tools == nil {
		return o, fmt.Errorf("sandbox: %w: ToolSpecs without Tools to run them", contract.ErrBadConfig)
	}
	return o, nil
}

// Sandbox runs untrusted agent code in a WebAssembly interpreter. It loads
// the interpreter once and keeps a pool of started instances so that an
// episode starts in microseconds. Each episode has an instance to itself;
// when the episode closes, the instance is discarded, or, when the episode
// finished cleanly, reset by the interpreter and kept for a later episode
// (Options.MaxEpisodesPerInstance), so that nothing of one episode reaches
// the next. It is safe for concurrent use.
type Sandbox struct {
	opts   Options
	host   *wasmhost.Host
	plugin *wasmhost.Plugin // the interpreter, loaded once
	reuse  bool             // the interpreter resets, and instances may serve again
	tools  map[string]bool

	pool     chan *slot         // started or reset instances, filled in the background
	wake     chan struct{}      // wakes the filler: an instance was taken or discarded
	stopFill context.CancelFunc // ends the filler's context
	filler   sync.WaitGroup
	mu       sync.Mutex
	closed   bool
	idle     []*slot // reset instances beyond what the pool holds, most recent last
	open     int     // episodes open now
	peak     int     // the most episodes ever open at once
}

// slot is an interpreter instance with the count of episodes it served.
type slot struct {
	in       *wasmhost.Instance
	episodes int
	// tainted: a Run on it broke a limit or failed in the interpreter or
	// the host; it is never reused.
	tainted bool
	// ran: code ran on it since it started or was reset.
	ran bool
}

// New compiles the interpreter (or takes it from Options.CacheDir), starts
// one instance to check that it loads, and starts filling the pool in the
// background. Cancelling ctx affects only this call.
func New(ctx context.Context, opts Options) (*Sandbox, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Sandbox{opts: opts, tools: map[string]bool{}, stopFill: func() {}, wake: make(chan struct{}, 1)}
	for _, t := range opts.ToolSpecs {
		s.tools[t.Name] = true
	}
	s.host, err = wasmhost.NewHost(ctx, wasmhost.HostConfig{CacheDir: opts.CacheDir, Tools: router{}})
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	manifest := contract.Manifest{
		Name: opts.Name, Kind: sdk.KindInterpreter,
		Permissions: contract.Permissions{HostFunctions: []string{sdk.PermissionTool}},
	}
	cfg := contract.PluginConfig{
		Limits: limits.Limits{
			MemoryPages: opts.MemoryPages,
			Timeout:     opts.Timeout,
			// The response carries the printed output and the final
			// answer, JSON-escaped (up to 6 bytes per byte).
			MaxOutputBytes: 12*opts.MaxOutputBytes + 1<<20,
			// Only Load's check uses the plugin's own pool: episodes
			// run on instances of their own (wasmhost.Instance).
			MaxInstances: 1,
		},
		Grant: contract.Permissions{HostFunctions: []string{sdk.PermissionTool}},
	}
	s.plugin, err = s.host.Load(ctx, opts.Interpreter, manifest, cfg)
	if err != nil {
		s.host.Close(ctx)
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s.reuse = opts.MaxEpisodesPerInstance > 1 && s.plugin.Exports(sdk.InterpreterResetFunction)
	first, err := s.load(ctx)
	if err != nil {
		s.host.Close(ctx)
		return nil, err
	}
	if opts.PoolSize > 0 {
		s.pool = make(chan *slot, opts.PoolSize)
		s.pool <- first
		fillCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		s.stopFill = stop
		s.filler.Add(1)
		go s.fill(fillCtx)
	} else {
		first.in.Close()
	}
	return s, nil
}

// ToolSpecs returns the tools the sandbox's code may call
// (Options.ToolSpecs, in their order): the one list a CodeAct agent
// describes to its model, so that the prompt and the functions the
// interpreter defines cannot differ. The slice is a copy.
func (s *Sandbox) ToolSpecs() []sdk.ToolSpec { return slices.Clone(s.opts.ToolSpecs) }

// load starts one interpreter instance.
func (s *Sandbox) load(ctx context.Context) (*slot, error) {
	in, err := s.plugin.NewInstance(ctx)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return &slot{in: in}, nil
}

// Pauses of the pool's filler after a failed start: the first, and the
// most it grows to (doubling each time).
const (
	fillBackoffMin = 100 * time.Millisecond
	fillBackoffMax = 5 * time.Second
)

// fill keeps the pool full until Close, which cancels ctx; with reuse, only
// as long as fewer instances exist, open or waiting, than episodes were ever
// open at once (at least PoolSize): the others come back when their
// episodes close. Loading worked in New, so a failure now is memory pressure
// or the host closing: it is logged and retried after a pause that doubles
// up to fillBackoffMax, rather than spinning (an episode that finds the pool
// empty starts its own instance and gets the error itself).
func (s *Sandbox) fill(ctx context.Context) {
	defer s.filler.Done()
	pause := fillBackoffMin
	for {
		if !s.wantFill() {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		p, err := s.load(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.opts.Logger.Warn("sandbox: could not start a pooled interpreter; retrying", "err", err, "retry_in", pause)
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			pause = min(2*pause, fillBackoffMax)
			continue
		}
		pause = fillBackoffMin
		select {
		case s.pool <- p:
		case <-ctx.Done():
			p.in.Close()
			return
		}
	}
}

// wantFill reports whether the filler should start another instance.
func (s *Sandbox) wantFill() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	waiting := len(s.pool) + len(s.idle)
	return len(s.pool) < cap(s.pool) && (!s.reuse || s.open+waiting < max(s.opts.PoolSize, s.peak))
}

// wakeFiller tells the filler to look again at wantFill.
func (s *Sandbox) wakeFiller() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns a started interpreter: a reset one when one waits, else a
// pooled one when one is ready, otherwise a new one started now.
func (s *Sandbox) take(ctx context.Context) (*slot, error) {
	s.mu.Lock()
	closed := s.closed
	var reset *slot
	if n := len(s.idle); n > 0 && !closed {
		reset, s.idle = s.idle[n-1], s.idle[:n-1]
	}
	s.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case reset != nil:
		return reset, nil
	}
	select {
	case p := <-s.pool:
		if p != nil {
			s.wakeFiller()
			return p, nil
		}
	default:
	}
	return s.load(ctx)
}

// Close stops the pool and releases every interpreter; episodes still open
// fail their next Run with ErrClosed.
func (s *Sandbox) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, p := range idle {
		p.in.Close()
	}
	s.stopFill()
	s.filler.Wait()
	if s.pool != nil {
	drain:
		for {
			select {
			case p := <-s.pool:
				p.in.Close()
			default:
				break drain
			}
		}
	}
	return s.host.Close(ctx)
}

// Start begins an episode on its own interpreter instance: microseconds when
// the pool has one ready, a full instance start (tens of milliseconds)
// otherwise. Its tool calls carry no task; see [Sandbox.StartTask].
func (s *Sandbox) Start(ctx context.Context) (*Episode, error) {
	return s.StartTask(ctx, nil)
}

// StartTask begins an episode, as Start, bound to task: every tool call of
// the episode reaches Options.Tools with sdk.ToolCallRequest.Task set to a
// copy of task, whatever the code sent. That is how one set of tools, shared
// by every episode, serves each episode its own world (the email pack
// searches the inbox named by task.Metadata["inbox"]) without the model's
// code being able to name another. A nil task means none.
func (s *Sandbox) StartTask(ctx context.Context, task *sdk.Task) (*Episode, error) {
	p, err := s.take(ctx)
	if err != nil {
		return nil, err
	}
	p.episodes++
	s.mu.Lock()
	s.open++
	s.peak = max(s.peak, s.open)
	s.mu.Unlock()
	e := &Episode{s: s, plugin: p}
	e.life, e.end = context.WithCancel(context.Background())
	if task != nil {
		t := *task
		t.Metadata = maps.Clone(task.Metadata)
		e.task = &t
	}
	return e, nil
}

// Episode is one agent episode: the code of successive Run calls shares its
// globals. Close it when the episode ends. Its methods are safe for
// concurrent use but Runs are serialised.
type Episode struct {
	s  *Sandbox
	mu sync.Mutex

	plugin    *slot              // the episode's interpreter; nil after a failure stopped it
	task      *sdk.Task          // stamped on every tool call; never changed
	life      context.Context    // cancelled by Close: a Run in progress stops
	end       context.CancelFunc // cancels life
	done      bool
	closed    bool
	stateLost bool
	turns     int

	// Tool calls of the episode, and of the current Run (callMu guards
	// them: the router writes them from the wasm call's goroutine).
	callMu    sync.Mutex
	toolCalls int
	capHit    bool
	argsBad   bool
	calls     []ToolCall
}

// ToolCall is one tool call the code made: what it asked and what it got.
type ToolCall struct {
	// Name and Arguments are the call as the code made it (Arguments
	// replaced by a placeholder when over MaxToolArgBytes).
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// Content, IsError and Data are the tool's answer (sdk.ToolCallResponse),
	// or the sandbox's refusal with IsError set.
	Content string          `json:"content"`
	IsError bool            `json:"is_error,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Result is what one Run did. Err is nil when the code ran to its end or to
// final_answer; otherwise it wraps a sentinel of this package (ErrSyntax,
// ErrSteps, ErrTimeout, ...) and Error holds the message the model reads,
// with the line where it is known.
type Result struct {
	// Output is what the code printed (lost when it timed out, ran out of
	// memory or crashed: then only the error is known).
	Output      string     `json:"output"`
	FinalAnswer *string    `json:"final_answer"`
	ToolCalls   []ToolCall `json:"tool_calls"`
	Error       string     `json:"error,omitempty"`
	// ErrorKind is the interpreter's kind (sdk.InterpretError*) or the
	// host's: "timeout", "memory", "output", "code_too_large", "crash".
	ErrorKind string `json:"error_kind,omitempty"`
	ErrorLine int    `json:"error_line,omitempty"`
	Steps     int64  `json:"steps"`
	// WallTime is the Run's duration.
	WallTime time.Duration `json:"wall_time_ns"`
	// StateLost reports that this Run started on a fresh interpreter
	// because the previous one was stopped: earlier variables are gone.
	StateLost bool  `json:"state_lost,omitempty"`
	Err       error `json:"-"`
}

// Observation is the text a CodeAct agent appends for the model: the printed
// output, then the error if any.
func (r Result) Observation() string {
	var b strings.Builder
	b.WriteString(r.Output)
	if r.Error != "" {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte('\n')
		}
		b.WriteString("Error: ")
		b.WriteString(r.Error)
	}
	return b.String()
}

type episodeKey struct{}

// Run runs one turn of code. The code's own failures (syntax, runtime,
// limits) are reported in the Result with a nil error; Run returns an error
// only when it could not run the code at all: the episode is closed or over
// (ErrClosed, ErrEpisodeDone), or ctx was cancelled (ctx.Err() wrapped; the
// interpreter is then stopped and the episode goes on with a fresh one).
func (e *Episode) Run(ctx context.Context, code string) (Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return Result{}, ErrClosed
	case e.done:
		return Result{}, ErrEpisodeDone
	}
	o := e.s.opts
	start := time.Now()
	res := Result{StateLost: e.stateLost}
	e.stateLost = false
	if len(code) > o.MaxCodeBytes {
		res.Error = fmt.Sprintf("the code is %d bytes, more than the limit of %d", len(code), o.MaxCodeBytes)
		res.ErrorKind, res.Err = "code_too_large", fmt.Errorf("%w: %s", ErrCodeTooLarge, res.Error)
		res.WallTime = time.Since(start)
		return res, nil
	}
	if e.plugin == nil {
		p, err := e.s.take(ctx)
		if err != nil {
			return Result{}, err
		}
		p.episodes++
		e.plugin = p
	}
	e.callMu.Lock()
	e.calls, e.capHit, e.argsBad = nil, false, false
	e.callMu.Unlock()

	req := sdk.InterpretRequest{Code: code, Tools: o.ToolSpecs, MaxSteps: o.MaxSteps, MaxOutputBytes: o.MaxOutputBytes}
	// Close stops the run rather than waiting for it.
	rctx, cancel := context.WithCancel(context.WithValue(ctx, episodeKey{}, e))
	stop := context.AfterFunc(e.life, cancel)
	e.plugin.ran = true
	resp, err := e.plugin.in.Interpret(rctx, req)
	stop()
	cancel()
	closedDuring := e.life.Err() != nil
	e.turns++
	res.WallTime = time.Since(start)
	e.callMu.Lock()
	res.ToolCalls = e.calls
	if res.ToolCalls == nil {
		res.ToolCalls = []ToolCall{} // "tool_calls": [] in JSON
	}
	capHit := e.capHit
	e.calls = nil
	e.callMu.Unlock()

	if err != nil && closedDuring {
		e.plugin.in.Close()
		e.plugin = nil
		return res, fmt.Errorf("sandbox: run: %w", ErrClosed)
	}
	if err != nil {
		kind, sentinel, healthy := classify(err)
		e.plugin.tainted = true
		if !healthy {
			// The instance was discarded with the episode's globals:
			// go on with a fresh one and say so.
			e.plugin.in.Close()
			e.plugin = nil
			e.stateLost = true
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("sandbox: run: %w", ctx.Err())
		}
		res.Error = hostMessage(kind, err, o)
		if !healthy {
			res.Error += "; the interpreter was restarted, so variables from earlier code are gone"
		}
		res.ErrorKind, res.Err = kind, fmt.Errorf("%w: %w", sentinel, err)
		return res, nil
	}
	res.Output, res.FinalAnswer, res.Steps = resp.Stdout, resp.FinalAnswer, resp.Steps
	res.Error, res.ErrorKind, res.ErrorLine = resp.Error, resp.ErrorKind, resp.ErrorLine
	if resp.FinalAnswer != nil {
		e.done = true
	}
	if resp.Error != "" {
		sentinel := ErrRuntime
		switch resp.ErrorKind {
		case sdk.InterpretErrorSyntax:
			sentinel = ErrSyntax
		case sdk.InterpretErrorSteps:
			sentinel = ErrSteps
			e.plugin.tainted = true
		case sdk.InterpretErrorOutput:
			sentinel = ErrOutput
			e.plugin.tainted = true
		case sdk.InterpretErrorTool:
			sentinel = ErrTool
			if capHit {
				sentinel = ErrToolCalls
			}
		}
		res.Err = fmt.Errorf("%w: %s", sentinel, resp.Error)
	}
	return res, nil
}

// classify maps a failed interpreter call to a kind, a sentinel, and whether
// the instance survived.
func classify(err error) (kind string, sentinel error, healthy bool) {
	switch {
	case errors.Is(err, contract.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout", ErrTimeout, false
	case errors.Is(err, wasmhost.ErrMemoryLimit):
		return "memory", ErrMemory, false
	case errors.Is(err, contract.ErrOutputLimit):
		return "output", ErrOutput, false
	case errors.Is(err, contract.ErrPluginFailed):
		return "crash", ErrCrashed, true
	case errors.Is(err, context.Canceled):
		return "cancelled", ErrCrashed, false
	}
	return "crash", ErrCrashed, false
}

// hostMessage is the observation for a failure the interpreter could not
// report itself.
func hostMessage(kind string, err error, o Options) string {
	switch kind {
	case "timeout":
		return fmt.Sprintf("the code was stopped after the time limit of %v", o.Timeout)
	case "memory":
		return fmt.Sprintf("the code used more than the memory limit of %d MiB", o.MemoryPages/16)
	case "output":
		return fmt.Sprintf("the code produced more than the output limit of %d bytes", o.MaxOutputBytes)
	}
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	return "the interpreter crashed: " + msg
}

// Close ends the episode and releases its interpreter: discarded, or reset
// and kept for a later episode when the episode finished cleanly (see
// Options.MaxEpisodesPerInstance). A Run in progress is stopped, not waited
// for to its end: it returns an error wrapping ErrClosed, and Close returns
// once it has (a running interpreter stops within microseconds of the
// cancel; a tool call in progress sees its context cancelled).
func (e *Episode) Close() error {
	e.end()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.s.mu.Lock()
	e.s.open--
	e.s.mu.Unlock()
	if e.plugin != nil {
		e.s.recycle(e.plugin)
		e.plugin = nil
	}
	e.s.wakeFiller()
	return nil
}

// recycle resets a clean instance (unless no code ran on it) and keeps it
// for the next episode, or closes it: when it is tainted, has served its
// episodes, grew past half the memory limit, fails its reset, or when as
// many instances already wait, pooled or reset, as episodes were ever open
// at once (at least PoolSize).
func (s *Sandbox) recycle(p *slot) {
	if !s.reuse || p.tainted || p.episodes >= s.opts.MaxEpisodesPerInstance ||
		p.in.MemoryBytes() > uint64(s.opts.MemoryPages)*65536/2 {
		p.in.Close()
		return
	}
	if p.ran {
		if _, err := p.in.Call(context.Background(), sdk.InterpreterResetFunction, nil); err != nil {
			p.in.Close()
			return
		}
		p.ran = false
	}
	s.mu.Lock()
	// Kept under s.mu, so that Close, which drains the pool after setting
	// closed, cannot miss it: into the pool while it has room (the filler
	// then has nothing to start), else onto the idle stack.
	keep := !s.closed && len(s.idle)+len(s.pool) < max(s.opts.PoolSize, s.peak)
	if keep {
		select {
		case s.pool <- p:
		default:
			s.idle = append(s.idle, p)
		}
	}
	s.mu.Unlock()
	if !keep {
		p.in.Close()
	}
}

// router answers the interpreter's tool calls for the episode in the call's
// context: it enforces the per-episode cap and the argument size, refuses
// unknown tools, validates, runs the tool and records the call.
type router struct{}

func (router) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	e, _ := ctx.Value(episodeKey{}).(*Episode)
	if e == nil {
		return sdk.ToolCallResponse{}, fmt.Errorf("%w: tool call outside an episode", ErrTool)
	}
	o := e.s.opts
	// The episode's task, not the code's: the code must not choose the
	// world its tools act on.
	req.Task = nil
	if e.task != nil {
		t := *e.task
		t.Metadata = maps.Clone(e.task.Metadata) // the tool may not alter the episode's copy
		req.Task = &t
	}
	record := func(resp sdk.ToolCallResponse) {
		e.callMu.Lock()
		e.calls = append(e.calls, ToolCall{Name: req.Name, Arguments: req.Arguments, Content: resp.Content, IsError: resp.IsError, Data: resp.Data})
		e.callMu.Unlock()
	}
	refuse := func(format string, args ...any) (sdk.ToolCallResponse, error) {
		resp := sdk.ToolCallResponse{Content: fmt.Sprintf(format, args...), IsError: true}
		record(resp)
		return resp, nil
	}
	e.callMu.Lock()
	e.toolCalls++
	n := e.toolCalls
	if n > o.MaxToolCalls {
		e.capHit = true
	}
	e.callMu.Unlock()
	if n > o.MaxToolCalls {
		// Not recorded: a runaway loop would otherwise fill the result.
		return sdk.ToolCallResponse{Content: fmt.Sprintf("tool call limit of %d per episode reached", o.MaxToolCalls), IsError: true}, nil
	}
	if size := len(req.Arguments); size > o.MaxToolArgBytes {
		req.Arguments = json.RawMessage(fmt.Sprintf(`"<%d bytes omitted>"`, size))
		return refuse("arguments of %d bytes exceed the limit of %d", size, o.MaxToolArgBytes)
	}
	if !e.s.tools[req.Name] {
		return refuse("unknown tool %q", req.Name)
	}
	resp, err := o.Tools.CallTool(ctx, req)
	if err != nil {
		resp = sdk.ToolCallResponse{Content: err.Error(), IsError: true}
	}
	record(resp)
	return resp, nil
}

// Run runs one program in a fresh sandbox and closes it: what
// `toolbrain sandbox run` does. For many episodes, keep a [Sandbox].
func Run(ctx context.Context, code string, opts Options) (Result, error) {
	if opts.PoolSize == 0 {
		opts.PoolSize = -1
	}
	s, err := New(ctx, opts)
	if err != nil {
		return Result{}, err
	}
	defer s.Close(ctx)
	e, err := s.Start(ctx)
	if err != nil {
		return Result{}, err
	}
	defer e.Close()
	return e.Run(ctx, code)
}
