package email

import (
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// decode's errors are ErrBadQuery and keep encoding/json's cause.
func TestDecode_Errors(t *testing.T) {
	tests := []struct {
		name string
		args string
		as   func(error) bool // the cause, found with errors.As
	}{
		{name: "wrong type", args: `{"message_id": 3}`, as: func(err error) bool {
			var te *json.UnmarshalTypeError
			return errors.As(err, &te) && te.Field == "message_id"
		}},
		{name: "not JSON", args: `{"message_id": `, as: func(err error) bool {
			var se *json.SyntaxError
			return errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a struct {
				ID string `json:"message_id"`
			}
			err := decode(json.RawMessage(tt.args), &a)
			if !errors.Is(err, ErrBadQuery) || !tt.as(err) {
				t.Fatalf("err = %v (%T), want ErrBadQuery wrapping encoding/json's error", err, errors.Unwrap(err))
			}
		})
	}
}
