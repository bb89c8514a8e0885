package lora_test

import (
	"fmt"
	"log"

	"github.com/toolbrain/toolbrain/core/lora"
)

func ExampleLoad() {
	a, err := lora.Load("../../testdata/models/llama-tiny-lora")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Config.R, a.Scale(), a.Config.TargetModules)
	fmt.Println(a.Paths()[0])
	// Output:
	// 4 2 [q_proj v_proj]
	// model.layers.0.self_attn.q_proj
}
