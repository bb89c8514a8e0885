package main

import (
	"context"
	"fmt"
)

func runMain(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "run", "[--config FILE]")
	cfgPath := fs.String("config", "", "toolbrain.toml to use (default: ./toolbrain.toml, else the embedded default)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, name, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stderr, "config: %s (backend %s)\n", name, cfg.Core.Backend)
	return fmt.Errorf("the main job needs the inference core, which is not wired yet")
}
