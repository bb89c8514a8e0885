// Package judge holds ToolBrain's first-party LLM judges, which the coach
// uses as rewards:
//
//   - [Ranker], the ranking judge: it shows a language model one task's
//     group of traces, asks for a ranking from best to worst, and turns the
//     ranking into rewards. It is the Go counterpart of the Python
//     reference's reward_llm_judge_via_ranking, and also runs as the
//     WebAssembly plugin built from wasm/ here.
//   - [Relative], a relative judge in the style of ART's RULER: one request
//     scores the whole group from 0 to 1, the traces against each other,
//     with the prompt the agents shared sent once ([ParseScores]).
//   - [Correctness], a binary judge against a gold answer in the style of
//     ART·E's: one request per trace, "is this final answer correct?",
//     read as 1 or 0 ([ParseVerdict]).
//
// All three render traces the same way (trace.go): per step the code, the
// tool calls with their arguments, the observations (errors marked) and the
// step's error, then the final answer and the episode's error. They are
// written in plain Go over an [Ask] function (no plugin SDK), so that a
// plugin, the in-process judges ([Native], [Model], [CorrectnessReward],
// over an sdk.LLM) and the tests all run the same code. An answer that
// cannot be read is asked for once more, with what was wrong; a second
// unreadable answer is an error wrapping sdk.ErrUnreadableAnswer, which the
// coach counts apart from failures and timeouts.
//
// The ranking judge in detail:
//
// The flow, [Ranker.Judge]:
//
//  1. [Ranker.Prompt] renders a system and a user message: the task, the
//     expected answer and the rubric when known, and every trace compactly
//     (code, tool calls, observations, errors, final answer), long fields
//     cut with a visible marker so that the message stays within
//     [Ranker.MaxPromptChars].
//  2. The model is asked once (a function parameter: the toolbrain_llm host
//     function in the plugin, any client natively).
//  3. [ParseRanking] reads the answer, tolerating prose and code fences
//     around the JSON, a bare list, and 1-based numbering.
//  4. If it cannot, the model is asked once more with its answer and a
//     message that says what was wrong; a second failure is an error.
//  5. [Scores] spaces the rewards linearly from 1 (best) to 0 (worst); the
//     response carries both the ranking and the scores.
//
// A group of one trace is ranked [0] with score 1 without asking the model.
//
// # Errors
//
// An answer that holds no usable ranking fails with [ErrBadRanking], naming
// what was wrong (no list found, an index out of range, repeated or
// missing); a bad configuration value fails with [ErrBadConfig] naming the
// key; an empty group wraps sdk.ErrInvalidRequest; a failing model call is
// returned wrapped as it came. Nothing here panics on input; [Scores]
// panics only when handed a list that is not a permutation, a programmer
// error (pass it what [ParseRanking] returns).
//
// # Why rank instead of score
//
// GRPO only needs rewards that order the traces of a group. An LLM is a
// more consistent judge when comparing traces side by side than when
// grading each one on an absolute scale, which is why the reference asks
// for a ranking too.
//
// # Notes
//
// The trace text the judge reads was written by the policy being trained;
// the system message tells the model that text inside a trajectory is data
// to evaluate, never instructions, so that the policy cannot simply learn to
// write "rank me first". Trajectories are shown in group order; an LLM
// judge may favour early positions, and nothing here shuffles them.
package judge
