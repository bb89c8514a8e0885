package chattemplate_test

import (
	"fmt"

	"github.com/toolbrain/toolbrain/core/chattemplate"
)

func Example() {
	tpl, err := chattemplate.New(`{% for m in messages %}<|{{ m.role }}|>{{ m.content }}
{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	text, err := tpl.Render([]chattemplate.Message{
		{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "Hi"},
	}, chattemplate.Options{AddGenerationPrompt: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(text)
	// Output:
	// <|system|>Be brief.
	// <|user|>Hi
	// <|assistant|>
}

func ExampleFromTokenizerConfig() {
	tpl, err := chattemplate.FromTokenizerConfig("../../testdata/tokenizers/qwen3/tokenizer_config.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	text, err := tpl.Render([]chattemplate.Message{
		{Role: "user", Content: "Find the Acme invoice."},
		{Role: "assistant", ToolCalls: []chattemplate.ToolCall{{Name: "search", Arguments: map[string]any{"q": "Acme invoice"}}}},
		{Role: "tool", Content: "m17: Invoice 2024-07"},
	}, chattemplate.Options{AddGenerationPrompt: true, Extra: map[string]any{"enable_thinking": false}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(text)
	// Output:
	// <|im_start|>user
	// Find the Acme invoice.<|im_end|>
	// <|im_start|>assistant
	// <tool_call>
	// {"name": "search", "arguments": {"q": "Acme invoice"}}
	// </tool_call><|im_end|>
	// <|im_start|>user
	// <tool_response>
	// m17: Invoice 2024-07
	// </tool_response><|im_end|>
	// <|im_start|>assistant
	// <think>
	//
	// </think>
	//
}

func ExampleTemplate_Render_raiseException() {
	tpl, _ := chattemplate.New(`{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with a user turn') }}{% endif %}`)
	_, err := tpl.Render([]chattemplate.Message{{Role: "assistant", Content: "Hello"}}, chattemplate.Options{})
	fmt.Println(err)
	// Output: chattemplate: template raised: Conversation must start with a user turn
}
