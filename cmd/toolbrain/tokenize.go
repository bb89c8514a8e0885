package main

import (
	"context"
	"fmt"

	"github.com/toolbrain/toolbrain/core/tokenizer"
)

func tokenizeCmd(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "tokenize", "--tokenizer DIR TEXT | --tokenizer DIR --decode 1,2,3")
	dir := fs.String("tokenizer", "", "directory with tokenizer.json (required)")
	decode := fs.String("decode", "", "comma-separated ids to decode instead of encoding TEXT")
	ordinary := fs.Bool("ordinary", false, "do not map special-token text such as <|im_start|> to its id")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%w: --tokenizer is required", errUsage)
	}
	tok, err := tokenizer.Load(*dir)
	if err != nil {
		return err
	}
	if *decode != "" {
		if len(pos) != 0 {
			return fmt.Errorf("%w: give TEXT or --decode, not both", errUsage)
		}
		ids, err := parseIDs(*decode)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if int(id) >= tok.VocabSize() {
				return fmt.Errorf("id %d is outside the vocabulary (size %d)", id, tok.VocabSize())
			}
		}
		return writeJSON(o.stdout, map[string]string{"text": tok.Decode(ids)})
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one TEXT argument", errUsage)
	}
	var ids []int32
	if *ordinary {
		ids = tok.EncodeOrdinary(pos[0])
	} else {
		ids = tok.Encode(pos[0])
	}
	if ids == nil {
		ids = []int32{}
	}
	return writeJSON(o.stdout, map[string][]int32{"ids": ids})
}
