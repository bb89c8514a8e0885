// Package reward is the email-search environment's reward, in the style of
// ART·E (OpenPipe's email agent): being right matters most, being wrong is
// worse than saying nothing, and a little extra goes to short episodes and to
// having read the message that holds the answer.
//
//	correct answer   1 + TurnBonus·(MaxTurns−turns)/(MaxTurns−1) + CiteBonus·read
//	no answer        0 + CiteBonus·read
//	wrong answer    Wrong (−1) + CiteBonus·read
//	broken          Broken (off: 0; ART·E: −2) + CiteBonus·read
//
// read is 1 when some read_email call of the trace asked for one of the
// task's gold messages (task metadata "message_ids", comma-separated), and
// turns is the trace's number of turns (the turn bonus is kept within
// [0, TurnBonus]). An answer is correct when it equals the expected one
// after [Normalize]; "no answer" is an empty final answer (the episode ran
// out of turns, or answered nothing) or one of [NoAnswers]. "Broken" is an
// episode that never called final_answer and had a turn that failed (code
// that does not parse or raises, a tool call the tools refused): ART·E's
// formatting error, which ends its episodes without an answer.
//
// # Why these numbers
//
// Wrong below no answer, as ART·E does, so that guessing never pays more
// than admitting ignorance and the policy learns to look before it answers.
// Broken, when set, goes below wrong, as ART·E's formatting errors (−2) do:
// without it, code that fails every turn scores like an honest "no answer",
// and a policy pushed hard (a high learning rate) can learn that failing is
// the safest move, after which its groups all fail alike and carry no
// signal. It is off by default: on the main job's three corpus seeds the
// gain was steadier without it (examples/email_search).
// The bonuses are a tenth of the main reward: they break ties within a GRPO
// group of correct episodes (fewer turns, the answer read rather than
// guessed) without ever lifting a wrong answer above a correct one. The
// citation bonus also applies to wrong and missing answers: having found
// the right message is progress a tiny policy needs to be paid for early.
//
// The logic lives here, natively testable; its wasm/ guest
// serves it as a WebAssembly reward plugin.
package reward

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/toolbrain/toolbrain/sdk"
)

// Task metadata keys the reward reads.
const (
	MetadataMessageIDs = "message_ids"
	// ReadTool is the tool whose calls count as citing a message.
	ReadTool = "read_email"
)

// Defaults of the zero Reward fields.
const (
	DefaultMaxTurns  = 6 // the CodeAct athlete's default turn limit
	DefaultTurnBonus = 0.1
	DefaultCiteBonus = 0.1
	DefaultWrong     = -1.0
)

// NoAnswers are final answers that mean "I don't know" (after Normalize).
var NoAnswers = []string{"", "i don't know", "i do not know", "unknown", "none", "not found"}

// Reward scores email-search traces. The zero value uses the defaults.
type Reward struct {
	MaxTurns  int
	TurnBonus float64
	CiteBonus float64
	// Wrong is the score of a wrong answer (0 means DefaultWrong; a
	// reward that wants no penalty sets a tiny negative value).
	Wrong float64
	// Broken is the score of an episode without a final answer whose
	// code or tool calls failed; 0 scores it as no answer.
	Broken float64
}

var _ sdk.Reward = Reward{}

// ConfigKeys are the configuration keys FromConfig reads.
var ConfigKeys = []string{"max_turns", "turn_bonus", "cite_bonus", "wrong", "broken"}

// FromConfig reads a Reward from a plugin's configuration: max_turns,
// turn_bonus, cite_bonus, wrong, broken. Missing keys keep the defaults; a bad value
// is an error naming its key.
func FromConfig(cfg map[string]string) (Reward, error) {
	var r Reward
	for _, k := range []struct {
		key string
		f   *float64
	}{{"turn_bonus", &r.TurnBonus}, {"cite_bonus", &r.CiteBonus}, {"wrong", &r.Wrong}, {"broken", &r.Broken}} {
		v, ok := cfg[k.key]
		if !ok {
			continue
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return r, fmt.Errorf("email reward: config %s = %q: want a finite number", k.key, v)
		}
		*k.f = x
	}
	if v, ok := cfg["max_turns"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 2 {
			return r, fmt.Errorf("email reward: config max_turns = %q: want an integer of at least 2", v)
		}
		r.MaxTurns = n
	}
	return r, nil
}

func (r Reward) withDefaults() Reward {
	if r.MaxTurns < 2 {
		r.MaxTurns = DefaultMaxTurns
	}
	if r.TurnBonus == 0 {
		r.TurnBonus = DefaultTurnBonus
	}
	if r.CiteBonus == 0 {
		r.CiteBonus = DefaultCiteBonus
	}
	if r.Wrong == 0 {
		r.Wrong = DefaultWrong
	}
	return r
}

// Normalize folds an answer for comparison: trimmed, lower case, without
// surrounding quotes and a final period.
func Normalize(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.Trim(s, "\"'` ")
	s = strings.TrimSuffix(s, ".")
	return strings.TrimSpace(s)
}

// Reward implements sdk.Reward. Info holds the parts: correct (1/0),
// answered (1/0), broken (1/0), cited (1/0), turns.
func (r Reward) Reward(_ context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	r = r.withDefaults()
	expected := req.Expected
	if expected == "" && req.Task != nil {
		expected = req.Task.Expected
	}
	var gold []string
	if req.Task != nil {
		for _, id := range strings.Split(req.Task.Metadata[MetadataMessageIDs], ",") {
			if id = strings.TrimSpace(id); id != "" {
				gold = append(gold, id)
			}
		}
	}
	tr := &req.Trace
	turns := len(tr.Turns)
	cited := citedAny(tr, gold)
	answer := Normalize(tr.FinalAnswer)
	answered := true
	for _, na := range NoAnswers {
		if answer == na {
			answered = false
		}
	}
	correct := answered && answer == Normalize(expected)
	broken := strings.TrimSpace(tr.FinalAnswer) == "" && failed(tr)

	var score float64
	switch {
	case correct:
		bonus := r.TurnBonus * float64(r.MaxTurns-max(turns, 1)) / float64(r.MaxTurns-1)
		score = 1 + min(max(bonus, 0), r.TurnBonus)
	case answered:
		score = r.Wrong
	case broken && r.Broken != 0:
		score = r.Broken
	}
	if cited {
		score += r.CiteBonus
	}
	return sdk.RewardResponse{Score: score, Info: map[string]float64{
		"correct": b2f(correct), "answered": b2f(answered), "broken": b2f(broken), "cited": b2f(cited), "turns": float64(turns),
	}}, nil
}

// failed reports whether a turn of tr failed: its code did not parse or
// raised, or a tool refused a call.
func failed(tr *sdk.Trace) bool {
	for _, t := range tr.Turns {
		if t.Error != "" {
			return true
		}
		for _, o := range t.Observations {
			if o.IsError {
				return true
			}
		}
	}
	return false
}

// citedAny reports whether a read_email call of tr asked for one of ids.
func citedAny(tr *sdk.Trace, ids []string) bool {
	if len(ids) == 0 {
		return false
	}
	for _, t := range tr.Turns {
		for _, c := range t.ToolCalls {
			if c.Name != ReadTool {
				continue
			}
			var a struct {
				ID string `json:"message_id"`
			}
			if json.Unmarshal(c.Arguments, &a) != nil {
				continue
			}
			for _, id := range ids {
				if a.ID == id {
					return true
				}
			}
		}
	}
	return false
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
