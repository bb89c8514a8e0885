package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/toolbrain/toolbrain/core/tokenizer"
)

// maxCorpusBytes bounds the text a tokenizer is trained on: BPE training
// holds every distinct word of it in memory.
const maxCorpusBytes = 64 << 20

func tokenizerTrain(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "tokenizer train", "--corpus FILE[,FILE...] --vocab N --out DIR")
	corpusFlag := fs.String("corpus", "", "comma-separated text or JSONL files; from a JSONL line every string value is taken (messages, prompts, code, tool output)")
	vocab := fs.Int("vocab", 1024, "vocabulary size: 256 bytes + learned merges + 4 special tokens")
	out := fs.String("out", "", "output directory: tokenizer.json and tokenizer_config.json (ChatML template)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *corpusFlag == "" || *out == "" {
		return fmt.Errorf("%w: --corpus and --out are required", errUsage)
	}
	var text strings.Builder
	for _, path := range strings.Split(*corpusFlag, ",") {
		if err := corpusText(path, &text); err != nil {
			return err
		}
	}
	tok, err := tokenizer.NewByteLevel(*vocab, &tokenizer.ByteLevelOptions{Corpus: text.String()})
	if err != nil {
		return err
	}
	if err := tok.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "wrote %s: byte-level BPE, %d ids, trained on %d bytes\n", *out, tok.VocabSize(), text.Len())
	return nil
}

// corpusText appends the text of one corpus file to b: a JSONL line's
// string values, one per line, or the line itself.
func corpusText(path string, b *strings.Builder) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		raw := bytes.TrimSpace(sc.Bytes())
		var v any
		if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') && json.Unmarshal(raw, &v) == nil {
			strs(v, func(s string) { b.WriteString(s); b.WriteByte('\n') })
		} else {
			b.Write(sc.Bytes())
			b.WriteByte('\n')
		}
		if b.Len() > maxCorpusBytes {
			return fmt.Errorf("corpus %s:%d: more than %d bytes of text in all", path, line, maxCorpusBytes)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("corpus %s: %w", path, err)
	}
	return nil
}

// strs calls f with every string in a decoded JSON value.
func strs(v any, f func(string)) {
	switch v := v.(type) {
	case string:
		f(v)
	case []any:
		for _, x := range v {
			strs(x, f)
		}
	case map[string]any:
		for _, x := range v {
			strs(x, f)
		}
	}
}
