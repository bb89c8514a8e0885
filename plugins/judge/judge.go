package judge

import (
	"context"
	"fmt"
	"strconv"

	"github.com/toolbrain/toolbrain/sdk"
)

// Ask sends one request to the judge's LLM and returns its answer: the
// toolbrain_llm host function inside the plugin, any client natively.
type Ask func(req sdk.LLMRequest) (sdk.LLMResponse, error)

// Judge ranks req.Traces: it renders [Ranker.Prompt], asks once, reads the
// answer with [ParseRanking] and, when that fails, asks once more with the
// first answer and a message saying what was wrong. The response holds
// the ranking (trace indices, best first) and its [Scores]; it passes
// sdk.JudgeResponse.Validate for the group.
//
// A group of one trace is ranked [0] with score 1 without asking. Errors:
// an invalid r ([ErrBadConfig]); no traces, or more than [MaxTraces]
// (sdk.ErrInvalidRequest); a failing ask, returned wrapped and never
// retried (it is the host's or the network's failure, not the model's);
// two unreadable answers ([ErrBadRanking], with both reasons, and
// sdk.ErrUnreadableAnswer).
func (r Ranker) Judge(req sdk.JudgeRequest, ask Ask) (sdk.JudgeResponse, error) {
	if err := r.Validate(); err != nil {
		return sdk.JudgeResponse{}, err
	}
	n := len(req.Traces)
	if err := checkGroup(n); err != nil {
		return sdk.JudgeResponse{}, err
	}
	switch {
	case n == 1:
		return sdk.JudgeResponse{Ranking: []int{0}, Scores: []float64{1}}, nil
	}
	var ranking []int
	err := askTwice(ask, sdk.LLMRequest{Messages: r.Prompt(req), MaxTokens: r.maxTokens()}, "ranking",
		func(text string) (err error) {
			ranking, err = ParseRanking(text, n)
			return err
		},
		func(err error) string { return correction(err, n) })
	if err != nil {
		return sdk.JudgeResponse{}, err
	}
	return sdk.JudgeResponse{Ranking: ranking, Scores: Scores(ranking)}, nil
}

// Native is the judge in process, an sdk.Judge over an sdk.LLM (the same
// model that answers the plugin's toolbrain_llm).
type Native struct {
	Ranker Ranker
	// LLM answers the judge's requests; it receives Judge's ctx.
	LLM sdk.LLM
}

var _ sdk.Judge = Native{}

// Judge is [Ranker.Judge] with ctx passed to every LLM call; cancelling
// ctx makes the pending call (and so Judge) fail with the LLM's error.
func (j Native) Judge(ctx context.Context, req sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	if j.LLM == nil {
		return sdk.JudgeResponse{}, fmt.Errorf("%w: judge: no LLM configured", ErrBadConfig)
	}
	return j.Ranker.Judge(req, withContext(ctx, j.LLM))
}

// ConfigKeys lists the keys [FromConfig] reads, for a plugin that fetches
// its config key by key (config_get).
func ConfigKeys() []string { return []string{"style", "max_tokens", "max_prompt_chars", "rubric"} }

// The styles [FromConfig] builds.
const (
	StyleRanking     = "ranking"
	StyleRelative    = "relative"
	StyleCorrectness = "correctness"
)

// FromConfig builds the judge a plugin's config asks for: style (ranking,
// the default; relative; correctness) and the keys of
// [RankerFromConfig]. An unknown style fails with [ErrBadConfig] naming
// it.
func FromConfig(m map[string]string) (GroupJudge, error) {
	rest := make(map[string]string, len(m))
	for k, v := range m {
		if k != "style" {
			rest[k] = v
		}
	}
	r, err := RankerFromConfig(rest)
	if err != nil {
		return nil, err
	}
	switch style := m["style"]; style {
	case "", StyleRanking:
		return r, nil
	case StyleRelative:
		return Relative(r), nil
	case StyleCorrectness:
		return Correctness(r), nil
	default:
		return nil, fmt.Errorf("%w: style %q: want %s, %s or %s", ErrBadConfig, short(style), StyleRanking, StyleRelative, StyleCorrectness)
	}
}

// RankerFromConfig builds a Ranker from string values: max_tokens and
// max_prompt_chars (decimal integers, see [Ranker]) and rubric (any text).
// A missing key keeps the default. An unknown key, an unparsable or an out
// of range value fails with [ErrBadConfig] naming the key.
func RankerFromConfig(m map[string]string) (Ranker, error) {
	var r Ranker
	for k, v := range m {
		switch k {
		case "max_tokens", "max_prompt_chars":
			i, err := strconv.Atoi(v)
			if err != nil {
				return Ranker{}, fmt.Errorf("%w: %s %q: want a decimal integer", ErrBadConfig, k, short(v))
			}
			if k == "max_tokens" {
				r.MaxTokens = i
			} else {
				r.MaxPromptChars = i
			}
		case "rubric":
			r.Rubric = v
		default:
			return Ranker{}, fmt.Errorf("%w: unknown key %q (known: max_tokens, max_prompt_chars, rubric)", ErrBadConfig, short(k))
		}
	}
	if err := r.Validate(); err != nil {
		return Ranker{}, err
	}
	return r, nil
}

// GroupJudge is a judge of a group over an [Ask]: [Ranker], [Relative]
// or [Correctness].
type GroupJudge interface {
	Judge(req sdk.JudgeRequest, ask Ask) (sdk.JudgeResponse, error)
}

var (
	_ GroupJudge = Ranker{}
	_ GroupJudge = Relative{}
	_ GroupJudge = Correctness{}
)

// Model is any [GroupJudge] in process over a model: an sdk.Judge whose
// every request goes to LLM with Judge's ctx.
type Model struct {
	Of  GroupJudge
	LLM sdk.LLM
}

var _ sdk.Judge = Model{}

// Judge implements sdk.Judge: m.Of's verdict, asking m.LLM.
func (m Model) Judge(ctx context.Context, req sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	if m.LLM == nil || m.Of == nil {
		return sdk.JudgeResponse{}, fmt.Errorf("%w: judge: no LLM or no judge configured", ErrBadConfig)
	}
	return m.Of.Judge(req, withContext(ctx, m.LLM))
}
