package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
)

// tokenizerFiles travel with a checkpoint when it is rewritten.
var tokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json", "special_tokens_map.json"}

// copyTokenizerFiles copies the tokenizer files that exist in src to dst,
// each atomically.
func copyTokenizerFiles(src, dst string) error {
	for _, name := range tokenizerFiles {
		if err := atomicfile.Copy(filepath.Join(src, name), filepath.Join(dst, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Caps of the files commands read whole. The runtime refuses more anyway
// (a plugin's input lives in its 64 MiB of memory, the sandbox runs at
// most 256 KiB of code); these stop a huge file before it is read.
const (
	maxInputBytes = 64 << 20 // plugin call --input
	maxCodeBytes  = 16 << 20 // sandbox run --code
)

// readAllLimited reads r to the end, failing past limit bytes.
func readAllLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("input larger than %d bytes", limit)
	}
	return data, nil
}
