package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/toolbrain/toolbrain/internal/capread"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/runtime/sandbox"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
)

// errProgramFailed marks a sandboxed program that ran and failed: its
// result is printed, and the exit code says so.
var errProgramFailed = errors.New("program failed")

func sandboxRun(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "sandbox run", "--code FILE [--tools PACK] [--timeout D] [--max-steps N]")
	codeFile := fs.String("code", "", "program to run (Starlark, a Python dialect); - for standard input")
	toolsPack := fs.String("tools", "", "tool pack whose tools the program may call")
	timeout := fs.Duration("timeout", 0, fmt.Sprintf("wall-clock limit (default %v)", sandbox.DefaultTimeout))
	maxSteps := fs.Int64("max-steps", 0, fmt.Sprintf("execution-step limit (default %d)", sandbox.DefaultMaxSteps))
	interp := fs.String("interpreter", "", "interpreter module (default: the embedded Starlark; any plugin of kind interpreter, see sdk/ABI.md)")
	cfgPath := fs.String("config", "", "toolbrain.toml ([plugins] cache and limits)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *codeFile == "" {
		return fmt.Errorf("%w: --code is required", errUsage)
	}
	if *timeout < 0 || *maxSteps < 0 {
		return fmt.Errorf("%w: --timeout and --max-steps must not be negative", errUsage)
	}
	cfg, _, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var code []byte
	if *codeFile == "-" {
		code, err = readAllLimited(os.Stdin, maxCodeBytes)
	} else {
		code, err = capread.File(*codeFile, maxCodeBytes)
	}
	if err != nil {
		return fmt.Errorf("read code: %w", err)
	}
	opts := sandbox.Options{CacheDir: cfg.Plugins.CacheDirOrDefault(), Timeout: *timeout, MaxSteps: *maxSteps}
	if *interp != "" {
		if opts.Interpreter, err = capread.File(*interp, wasmhost.MaxModuleBytes); err != nil {
			return fmt.Errorf("interpreter: %w", err)
		}
		// Check it here, so that what is wrong is said of the file given.
		if err := wasmhost.ValidateModule(ctx, opts.Interpreter); err != nil {
			return fmt.Errorf("interpreter %s: %w", *interp, err)
		}
		opts.Name = *interp
	}
	if *toolsPack != "" {
		p, err := pack.Load(*toolsPack)
		if err != nil {
			return err
		}
		h, err := wasmhost.NewHost(ctx, wasmhost.HostConfig{CacheDir: opts.CacheDir})
		if err != nil {
			return err
		}
		defer h.Close(ctx)
		tools, err := pack.Open(ctx, p, pack.WASM(h), contract.PluginConfig{Limits: cfg.Plugins.Limits})
		if err != nil {
			return err
		}
		defer tools.Close(ctx)
		// pack.Open's tools validate arguments against their schemas.
		opts.ToolSpecs, opts.Tools = tools.Specs(), tools
	}
	start := time.Now()
	res, err := sandbox.Run(ctx, string(code), opts)
	if err != nil {
		if errors.Is(err, sandbox.ErrNoInterpreter) {
			return fmt.Errorf("%w (run `bash plugins/build.sh`, then rebuild toolbrain)", err)
		}
		return err
	}
	if err := writeJSONIndent(o.stdout, res); err != nil {
		return err
	}
	if res.Err != nil {
		fmt.Fprintf(o.stderr, "sandbox: %s: %s after %v\n", *codeFile, res.Error, time.Since(start).Round(time.Millisecond))
		return errProgramFailed
	}
	return nil
}
