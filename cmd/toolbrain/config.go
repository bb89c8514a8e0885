package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/plugins/algorithms"
	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/sdk"
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
	if _, err := builtinRewards(cfg); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := algorithm(cfg); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(o.stdout, "%s: ok\n", name)
	return nil
}

// builtinRewards builds the [[rewards]] entries that name built-in
// rewards and checks that plugin files exist (loadRewards loads plugins;
// config check does not start them).
func builtinRewards(cfg config.Config) (*rewards.Weighted, error) {
	var list []rewards.Config
	for i, r := range cfg.Rewards {
		if r.Plugin != "" {
			if _, err := os.Stat(r.Plugin); err != nil {
				return nil, fmt.Errorf("rewards[%d].plugin: %w", i, err)
			}
			if r.Manifest != "" {
				if _, err := readManifest(r.Manifest); err != nil {
					return nil, fmt.Errorf("rewards[%d].manifest: %w", i, err)
				}
			}
			continue
		}
		list = append(list, rewards.Config{Name: r.Name, Weight: r.Weight, MaxTurns: r.MaxTurns, Normalize: r.Normalize})
	}
	return rewards.FromConfig(list)
}

// algorithm builds the [algorithm] table's first-party algorithm.
func algorithm(cfg config.Config) (sdk.Algorithm, error) {
	a := cfg.Algorithm
	alg, err := algorithms.FromConfig(algorithms.Config{Name: a.Name, ScaleRewards: algorithms.Scale(a.ScaleRewards),
		Epsilon: a.Epsilon, NormalizeAdvantages: a.NormalizeAdvantages})
	if err != nil {
		return nil, fmt.Errorf("[algorithm]: %w", err)
	}
	return alg, nil
}
