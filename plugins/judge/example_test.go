package judge_test

import (
	"fmt"

	"github.com/toolbrain/toolbrain/plugins/judge"
	"github.com/toolbrain/toolbrain/sdk"
)

func ExampleParseRanking() {
	answer := "Trajectory 2 is the only correct one.\n```json\n{\"ranking\": [2, 0, 1]}\n```"
	ranking, err := judge.ParseRanking(answer, 3)
	fmt.Println(ranking, err)
	fmt.Println(judge.Scores(ranking))

	// 1-based, as the Python reference numbers trajectories.
	ranking, _ = judge.ParseRanking("[3, 1, 2]", 3)
	fmt.Println(ranking)

	_, err = judge.ParseRanking(`{"ranking": [0, 0, 1]}`, 3)
	fmt.Println(err)
	// Output:
	// [2 0 1] <nil>
	// [0.5 0 1]
	// [2 0 1]
	// judge: bad ranking: [0, 0, 1] is not a permutation of 0..2: 0 repeated; 2 missing
}

func ExampleRanker_Judge() {
	req := sdk.JudgeRequest{
		Expected: "42",
		Traces:   []sdk.Trace{{FinalAnswer: "41"}, {FinalAnswer: "42"}},
	}
	// ask stands for the judge model; inside the plugin it is the
	// toolbrain_llm host function.
	ask := func(r sdk.LLMRequest) (sdk.LLMResponse, error) {
		return sdk.LLMResponse{Text: `{"ranking": [1, 0], "reasoning": "1 matches 42"}`}, nil
	}
	resp, err := judge.Ranker{Rubric: "only the answer matters"}.Judge(req, ask)
	fmt.Println(resp.Ranking, resp.Scores, err)
	// Output:
	// [1 0] [0 1] <nil>
}
