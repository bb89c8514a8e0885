package model

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadConfig_Reference(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		want Config
	}{
		{"llama", "llama-tiny", Config{
			Architecture: Llama, HiddenSize: 64, IntermediateSize: 176, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, RopeTheta: 10000, RMSNormEps: 1e-6,
			VocabSize: 320, MaxPositionEmbeddings: 512, BOSTokenID: 1, EOSTokenIDs: []int{2},
			TorchDType: "float32", HiddenAct: "silu",
		}},
		{"qwen2", "qwen2-tiny-bf16", Config{
			Architecture: Qwen2, HiddenSize: 48, IntermediateSize: 128, NumHiddenLayers: 2,
			NumAttentionHeads: 6, NumKeyValueHeads: 2, RopeTheta: 1e6, RMSNormEps: 1e-6,
			VocabSize: 256, MaxPositionEmbeddings: 512, TieWordEmbeddings: true, AttentionBias: true,
			BOSTokenID: 1, EOSTokenIDs: []int{2}, TorchDType: "bfloat16", HiddenAct: "silu",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(filepath.Join(refDir, tt.dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

const baseLlama = `"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":64,"intermediate_size":128,
"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100,"max_position_embeddings":64`

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		check func(Config) bool
	}{
		{"defaults", `{` + baseLlama + `}`, func(c Config) bool {
			return c.KVHeads() == 4 && c.HeadDimension() == 16 && c.RopeTheta == 10000 &&
				c.RMSNormEps == 1e-6 && !c.TieWordEmbeddings && !c.AttentionBias && c.BOSTokenID == -1 && c.EOSTokenIDs == nil
		}},
		{"head_dim given", `{` + baseLlama + `,"head_dim":32}`, func(c Config) bool { return c.HeadDimension() == 32 }},
		{"eos list", `{` + baseLlama + `,"eos_token_id":[2,7,9],"bos_token_id":5}`, func(c Config) bool {
			return reflect.DeepEqual(c.EOSTokenIDs, []int{2, 7, 9}) && c.BOSTokenID == 5
		}},
		{"llama attention bias", `{` + baseLlama + `,"attention_bias":true}`, func(c Config) bool { return c.AttentionBias }},
		{"qwen2 bias implied", `{"architectures":["Qwen2ForCausalLM"],"hidden_size":64,"intermediate_size":128,
			"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,"max_position_embeddings":64}`,
			func(c Config) bool { return c.Architecture == Qwen2 && c.AttentionBias && c.KVHeads() == 2 }},
		{"model_type only", `{"model_type":"qwen2","hidden_size":64,"intermediate_size":128,
			"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100,"max_position_embeddings":64}`,
			func(c Config) bool { return c.Architecture == Qwen2 }},
		{"rope_scaling null", `{` + baseLlama + `,"rope_scaling":null}`, func(c Config) bool { return true }},
		{"rope_scaling default", `{` + baseLlama + `,"rope_scaling":{"rope_type":"default"}}`, func(c Config) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestParseConfig_Errors(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    error
		mention string // the field the message must name
	}{
		{"not json", `{`, ErrConfig, ""},
		{"mistral", `{"architectures":["MistralForCausalLM"],"hidden_size":64}`, ErrUnsupported, "architectures"},
		{"model_type gemma", `{"model_type":"gemma"}`, ErrUnsupported, "model_type"},
		{"disagree", `{"architectures":["LlamaForCausalLM"],"model_type":"qwen2"}`, ErrConfig, "model_type"},
		{"no arch", `{"hidden_size":64}`, ErrConfig, "architectures"},
		{"yarn", `{` + baseLlama + `,"rope_scaling":{"rope_type":"yarn","factor":4}}`, ErrUnsupported, "rope_scaling"},
		{"llama3 rope", `{` + baseLlama + `,"rope_scaling":{"type":"llama3","factor":8}}`, ErrUnsupported, "rope_scaling"},
		{"zero hidden", strings.Replace(`{`+baseLlama+`}`, `"hidden_size":64`, `"hidden_size":0`, 1), ErrConfig, "hidden_size"},
		{"heads not divisor", strings.Replace(`{`+baseLlama+`}`, `"num_attention_heads":4`, `"num_attention_heads":3`, 1), ErrConfig, "num_attention_heads"},
		{"gqa not divisor", `{` + baseLlama + `,"num_key_value_heads":3}`, ErrConfig, "num_key_value_heads"},
		{"odd head_dim", `{` + baseLlama + `,"head_dim":15}`, ErrConfig, "head_dim"},
		{"negative theta", `{` + baseLlama + `,"rope_theta":-1}`, ErrConfig, "rope_theta"},
		{"gelu", `{` + baseLlama + `,"hidden_act":"gelu"}`, ErrUnsupported, "hidden_act"},
		{"mlp bias", `{` + baseLlama + `,"mlp_bias":true}`, ErrUnsupported, "mlp_bias"},
		{"bad eos", `{` + baseLlama + `,"eos_token_id":"x"}`, ErrConfig, "eos_token_id"},
		{"fractional eos", `{` + baseLlama + `,"eos_token_id":[1.5]}`, ErrConfig, "eos_token_id"},
		{"sliding window", `{"model_type":"qwen2","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,
			"num_attention_heads":4,"vocab_size":100,"max_position_embeddings":64,"use_sliding_window":true}`, ErrUnsupported, "use_sliding_window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %q does not name %q", err, tt.mention)
			}
		})
	}
}

func TestConfig_MarshalRoundTrip(t *testing.T) {
	for _, dir := range []string{"llama-tiny", "qwen2-tiny-bf16"} {
		t.Run(dir, func(t *testing.T) {
			c, err := LoadConfig(filepath.Join(refDir, dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			js, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var back Config
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			back.HiddenAct = c.HiddenAct
			if !reflect.DeepEqual(back, c) {
				t.Fatalf("round trip changed the config:\n%+v\n%+v", back, c)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{` + baseLlama + `}`))
	f.Add([]byte(`{` + baseLlama + `,"eos_token_id":[1,2],"head_dim":8,"rope_scaling":{"type":"linear"}}`))
	f.Add([]byte(`{"model_type":"qwen2","num_attention_heads":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		// Whatever parses must be self-consistent.
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config Validate rejects: %v", err)
		}
		if c.NumAttentionHeads%c.KVHeads() != 0 || c.HeadDimension()%2 != 0 {
			t.Fatalf("inconsistent config %+v", c)
		}
	})
}
