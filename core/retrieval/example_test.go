package retrieval_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/toolbrain/toolbrain/core/retrieval"
	"github.com/toolbrain/toolbrain/sdk"
)

func ExampleIndex_Select() {
	tools := []sdk.ToolSpec{
		{Name: "get_weather", Description: "Current conditions and the forecast for a city."},
		{Name: "sendEmail", Description: "Send a message.", Parameters: json.RawMessage(`{"type":"object","properties":{"to":{"type":"string","description":"Recipient address"}}}`)},
		{Name: "convert_currency", Description: "Convert an amount of money between currencies."},
	}
	ix, err := retrieval.New(context.Background(), tools, retrieval.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, task := range []string{"Will it rain in Paris? Check the forecast.", "Email the recipient the report", "How much is 20 USD in yen (currency)?"} {
		picked, err := ix.Select(context.Background(), task, 1)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(picked[0].Name)
	}
	// Output:
	// get_weather
	// sendEmail
	// convert_currency
}
