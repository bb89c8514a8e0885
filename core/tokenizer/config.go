package tokenizer

import (
	"encoding/json"
	"fmt"
)

// TokenizerConfig holds the fields of tokenizer_config.json that this
// package reads. Token fields are token strings ("" when unset); resolve them
// with Tokenizer.TokenID, or use Tokenizer.BOS/EOS/Pad.
type TokenizerConfig struct {
	BOSToken string
	EOSToken string
	PadToken string
	UnkToken string
	// ChatTemplate is the Jinja chat template: the file's string, or the
	// entry named "default" (else the first) when it lists several.
	ChatTemplate string
	// ChatTemplates holds every named template when the file lists several
	// ([{name, template}], e.g. "default" and "tool_use"); nil otherwise.
	ChatTemplates map[string]string
	// AddBOS and AddEOS say whether the model expects the BOS/EOS token
	// around each encoded sequence. Encode never adds them: callers do.
	AddBOS bool
	AddEOS bool
}

// ParseConfig parses tokenizer_config.json. Unknown fields are ignored: the
// file carries many fields for Python classes that do not matter here.
func ParseConfig(data []byte) (TokenizerConfig, error) {
	cfg, _, err := parseConfig(data)
	return cfg, err
}

// parseConfig also reports whether add_bos_token was set, so that Load can
// fall back on what tokenizer.json's post-processor implies.
func parseConfig(data []byte) (cfg TokenizerConfig, hasAddBOS bool, err error) {
	var raw struct {
		BOS          json.RawMessage `json:"bos_token"`
		EOS          json.RawMessage `json:"eos_token"`
		Pad          json.RawMessage `json:"pad_token"`
		Unk          json.RawMessage `json:"unk_token"`
		ChatTemplate json.RawMessage `json:"chat_template"`
		AddBOS       *bool           `json:"add_bos_token"`
		AddEOS       *bool           `json:"add_eos_token"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return cfg, false, fmt.Errorf("parse tokenizer_config.json: %w: %w", ErrInvalid, err)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *string
	}{
		{"bos_token", raw.BOS, &cfg.BOSToken},
		{"eos_token", raw.EOS, &cfg.EOSToken},
		{"pad_token", raw.Pad, &cfg.PadToken},
		{"unk_token", raw.Unk, &cfg.UnkToken},
	} {
		if *f.dst, err = tokenField(f.raw); err != nil {
			return cfg, false, fmt.Errorf("parse tokenizer_config.json %s: %w", f.name, err)
		}
	}
	if cfg.ChatTemplate, cfg.ChatTemplates, err = chatTemplateField(raw.ChatTemplate); err != nil {
		return cfg, false, fmt.Errorf("parse tokenizer_config.json chat_template: %w", err)
	}
	if raw.AddBOS != nil {
		cfg.AddBOS = *raw.AddBOS
	}
	if raw.AddEOS != nil {
		cfg.AddEOS = *raw.AddEOS
	}
	return cfg, raw.AddBOS != nil, nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// tokenField reads a token that older files write as an AddedToken object
// ({"content": "<s>", "__type": "AddedToken", ...}) and newer ones as a string.
func tokenField(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("%w: want a string or {content}: %w", ErrInvalid, err)
	}
	return obj.Content, nil
}

func chatTemplateField(raw json.RawMessage) (string, map[string]string, error) {
	if isNull(raw) {
		return "", nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil, nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", nil, fmt.Errorf("%w: want a string or [{name, template}]: %w", ErrInvalid, err)
	}
	named := make(map[string]string, len(list))
	def := ""
	for i, e := range list {
		named[e.Name] = e.Template
		if i == 0 || e.Name == "default" {
			def = e.Template
		}
	}
	if d, ok := named["default"]; ok {
		def = d
	}
	return def, named, nil
}
