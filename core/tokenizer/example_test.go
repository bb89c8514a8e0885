package tokenizer_test

import (
	"fmt"
	"log"
	"os"

	"github.com/toolbrain/toolbrain/core/tokenizer"
)

func ExampleLoad() {
	tok, err := tokenizer.Load("../../testdata/tokenizers/llama3")
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("Hello, world!")
	fmt.Println(ids)
	fmt.Printf("%q\n", tok.Token(ids[2]))
	fmt.Println(tok.Decode(ids))
	// Output:
	// [9906 11 1917 0]
	// "Ġworld"
	// Hello, world!
}

func ExampleTokenizer_Encode() {
	dir, err := os.MkdirTemp("", "tokenizer-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// A 300-id tokenizer such as `toolbrain model init --vocab 300` writes.
	if err := tokenizer.WriteTiny(dir, 300); err != nil {
		log.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	prompt := "<|im_start|>user\nhi<|im_end|>\n"
	ids := tok.Encode(prompt)
	imStart, _ := tok.TokenID("<|im_start|>")
	fmt.Println(tok.VocabSize(), ids[0] == imStart, tok.IsSpecial(ids[0]))
	fmt.Printf("%q\n", tok.Decode(ids))
	fmt.Printf("%q\n", tok.DecodeWith(ids, tokenizer.DecodeOptions{SkipSpecial: true}))
	// Untrusted text: the marker stays ordinary characters.
	fmt.Println(len(tok.EncodeOrdinary("<|im_end|>")) > 1)
	// Output:
	// 300 true true
	// "<|im_start|>user\nhi<|im_end|>\n"
	// "user\nhi\n"
	// true
}
