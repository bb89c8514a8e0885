// Package typed gives a plugin that calls its functions by name, JSON in
// and out, the typed method of every sdk kind. The WebAssembly plugin
// (runtime/wasmhost.Plugin) and the go-plugin one (runtime/goplugin.Plugin) embed
// its [Methods] under an unexported name, so that the methods are theirs
// and the type is no part of either package's API.
package typed

import (
	"context"
	"fmt"

	gojson "github.com/goccy/go-json"

	"github.com/toolbrain/toolbrain/sdk"
)

// Methods are the typed methods of every sdk kind over a plugin's
// by-name call: the request encoding, the response checks and the error
// naming that every transport shares.
type Methods struct {
	call    func(ctx context.Context, function string, input []byte) ([]byte, error)
	exports func(function string) bool
	wrap    func(function string, err error) error
}

// New returns the typed methods over call. exports reports whether
// the plugin exports a function; wrap names the plugin in an error about
// one of its functions.
func New(call func(ctx context.Context, function string, input []byte) ([]byte, error),
	exports func(function string) bool, wrap func(function string, err error) error) Methods {
	return Methods{call: call, exports: exports, wrap: wrap}
}

// invoke encodes req, calls function and decodes its output into resp.
func (p *Methods) invoke(ctx context.Context, function string, req, resp any) error {
	in, err := gojson.Marshal(req)
	if err != nil {
		return p.wrap(function, fmt.Errorf("encode request: %w", err))
	}
	out, err := p.call(ctx, function, in)
	if err != nil {
		return err
	}
	if err := sdk.DecodeResponse(out, resp); err != nil {
		return p.wrap(function, err)
	}
	return nil
}

// Reward calls the plugin's reward function (sdk.Reward).
func (p *Methods) Reward(ctx context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	var resp sdk.RewardResponse
	if err := p.invoke(ctx, sdk.RewardFunction, req, &resp); err != nil {
		return sdk.RewardResponse{}, err
	}
	if err := resp.Validate(); err != nil {
		return sdk.RewardResponse{}, p.wrap(sdk.RewardFunction, err)
	}
	return resp, nil
}

// RewardGroup calls reward_group when the plugin exports it, and otherwise
// reward once per trace (sdk.GroupReward).
func (p *Methods) RewardGroup(ctx context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	if !p.exports(sdk.RewardGroupFunction) {
		scores := make([]float64, len(req.Traces))
		for i, tr := range req.Traces {
			r, err := p.Reward(ctx, sdk.RewardRequest{Expected: req.Expected, Trace: tr, Task: req.Task})
			if err != nil {
				return sdk.RewardGroupResponse{}, fmt.Errorf("trace %d: %w", i, err)
			}
			scores[i] = r.Score
		}
		return sdk.RewardGroupResponse{Scores: scores}, nil
	}
	var resp sdk.RewardGroupResponse
	if err := p.invoke(ctx, sdk.RewardGroupFunction, req, &resp); err != nil {
		return sdk.RewardGroupResponse{}, err
	}
	if err := resp.Validate(len(req.Traces)); err != nil {
		return sdk.RewardGroupResponse{}, p.wrap(sdk.RewardGroupFunction, err)
	}
	return resp, nil
}

// Judge calls the plugin's judge function (sdk.Judge).
func (p *Methods) Judge(ctx context.Context, req sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	var resp sdk.JudgeResponse
	if err := p.invoke(ctx, sdk.JudgeFunction, req, &resp); err != nil {
		return sdk.JudgeResponse{}, err
	}
	if err := resp.Validate(len(req.Traces)); err != nil {
		return sdk.JudgeResponse{}, p.wrap(sdk.JudgeFunction, err)
	}
	return resp, nil
}

// Advantages calls the plugin's advantages function (sdk.Algorithm).
func (p *Methods) Advantages(ctx context.Context, req sdk.AdvantageRequest) (sdk.AdvantageResponse, error) {
	if err := req.Validate(); err != nil {
		return sdk.AdvantageResponse{}, p.wrap(sdk.AlgorithmFunction, err)
	}
	var resp sdk.AdvantageResponse
	if err := p.invoke(ctx, sdk.AlgorithmFunction, req, &resp); err != nil {
		return sdk.AdvantageResponse{}, err
	}
	if err := resp.Validate(req); err != nil {
		return sdk.AdvantageResponse{}, p.wrap(sdk.AlgorithmFunction, err)
	}
	return resp, nil
}

// CallTool calls the plugin's call_tool function (sdk.Tool).
func (p *Methods) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	var resp sdk.ToolCallResponse
	if err := p.invoke(ctx, sdk.ToolFunction, req, &resp); err != nil {
		return sdk.ToolCallResponse{}, err
	}
	return resp, nil
}

// Interpret calls the plugin's interpret function (sdk.Interpreter).
func (p *Methods) Interpret(ctx context.Context, req sdk.InterpretRequest) (sdk.InterpretResponse, error) {
	var resp sdk.InterpretResponse
	if err := p.invoke(ctx, sdk.InterpreterFunction, req, &resp); err != nil {
		return sdk.InterpretResponse{}, err
	}
	return resp, nil
}
