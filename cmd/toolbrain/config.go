package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/core/scoring"
)

// loadConfig reads path, or ./toolbrain.toml when path is empty and the file
// exists, or else the embedded default.
func loadConfig(path string) (config.Config, string, error) {
	if path == "" {
		if _, err := os.Stat("toolbrain.toml"); err == nil {
			path = "toolbrain.toml"
		} else if !errors.Is(err, os.ErrNotExist) {
			return config.Config{}, "", err
		}
	}
	cfg, err := config.Load(path)
	if path == "" {
		path = "embedded default"
	}
	return cfg, path, err
}

func configCheck(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "config check", "[FILE]")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return fmt.Errorf("%w: at most one FILE", errUsage)
	}
	path := ""
	if len(pos) == 1 {
		path = pos[0]
	}
	cfg, name, err := loadConfig(path)
	if err != nil {
		return err
	}
	if err := scoring.Check(cfg); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(o.stdout, "%s: ok\n", name)
	return nil
}
