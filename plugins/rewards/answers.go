package rewards

// The two answers of a reward request (DecodeAnswers): the request's and the
// trace's objects walked for "expected" and "final_answer". The JSON syntax
// itself (strings, numbers, skipping values) is jsonscan.go's.

import (
	"strconv"

	"github.com/toolbrain/toolbrain/sdk"
)

// DecodeAnswers decodes from a reward request's JSON only what the rewards
// that compare answers read: "expected" and "trace"."final_answer". Every
// other field is checked for syntax and skipped. It accepts and rejects
// exactly the inputs encoding/json's Unmarshal into sdk.RewardRequest does,
// and gives the same two strings: keys match case-insensitively (Unicode
// simple folding), the last duplicate key wins, null leaves a field empty,
// escapes and surrogate pairs are decoded, invalid UTF-8 and lone surrogates
// become U+FFFD, and nesting deeper than 10000 is refused. A wrong type for
// one of the two fields is an error; other fields' types are not checked.
//
// # Why not encoding/json
//
// Built for WebAssembly (GOOS=wasip1), encoding/json spends about 350 ns per
// input byte in reflection and its scanner's per-byte indirect calls: a 2 KB
// trace took 0.7 ms, twelve times the reward's budget. This loop takes a few
// nanoseconds per byte and keeps encoding/json, fmt and reflect out of the
// module, which makes it smaller and so faster to start. The native reward
// does not need it.
//
// Errors wrap sdk.ErrInvalidRequest and name the byte offset.
func DecodeAnswers(data []byte) (sdk.RewardRequest, error) {
	var req sdk.RewardRequest
	d := scanner{data: data}
	d.ws()
	if d.i >= len(d.data) {
		return req, d.fail("unexpected end of JSON input")
	}
	switch d.data[d.i] {
	case '{':
		if err := d.request(&req); err != nil {
			return sdk.RewardRequest{}, err
		}
	case 'n':
		// A null request leaves every field empty, as encoding/json does.
		if err := d.literal("null"); err != nil {
			return req, err
		}
	default:
		if err := d.skip(); err != nil {
			return req, err
		}
		return req, d.typeError("reward request", "an object")
	}
	d.ws()
	if d.i != len(d.data) {
		return sdk.RewardRequest{}, d.fail("invalid character " + quoteByte(d.data[d.i]) + " after top-level value")
	}
	return req, nil
}

// DecodeHostAnswers is DecodeAnswers for a request the host wrote: when
// data starts the way the host's encoding always does (`{"expected":"…",
// "trace":{"final_answer":"…"`, no white space: sdk/ABI.md fixes that order
// so that plugins can stop early), it decodes those two strings and reads
// no further; otherwise it is DecodeAnswers. It therefore gives
// DecodeAnswers' result for every valid request with no repeated keys,
// and may accept a request whose tail is malformed.
//
// # Why
//
// The answers are the first 60 or so bytes of a request whose trace may
// be kilobytes; a reward call on a 2 KB trace should not cost what
// reading 2 KB costs a Go plugin (see DecodeAnswers).
func DecodeHostAnswers(data []byte) (sdk.RewardRequest, error) {
	const head, mid = `{"expected":"`, `","trace":{"final_answer":"`
	var req sdk.RewardRequest
	if len(data) < len(head) || string(data[:len(head)]) != head {
		return DecodeAnswers(data)
	}
	d := scanner{data: data, i: len(head)}
	e, err := d.str()
	if err != nil || len(data)-d.i < len(mid)-1 || string(data[d.i:d.i+len(mid)-1]) != mid[1:] {
		return DecodeAnswers(data)
	}
	req.Expected = string(e) // before the next str, which may reuse d.buf
	d.i += len(mid) - 1
	f, err := d.str()
	if err != nil {
		return DecodeAnswers(data)
	}
	req.Trace.FinalAnswer = string(f)
	return req, nil
}

// DecodeError is a malformed reward request.
type DecodeError struct {
	Offset int    // byte offset of the error in the input
	Msg    string // what is wrong
}

func (e *DecodeError) Error() string {
	return "rewards: reward request at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Unwrap makes a DecodeError an sdk.ErrInvalidRequest.
func (e *DecodeError) Unwrap() error { return sdk.ErrInvalidRequest }

// request decodes the object at d.i (its '{'). It and trace are written out
// rather than sharing a member-callback walker: indirect calls are slow under
// Go's wasm backend.
func (d *scanner) request(req *sdk.RewardRequest) error {
	d.i++ // '{'
	if err := d.enter(); err != nil {
		return err
	}
	d.ws()
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		d.depth--
		return nil
	}
	for {
		key, err := d.key()
		if err != nil {
			return err
		}
		d.ws()
		switch {
		case foldEqual(key, "expected"):
			if err := d.stringField(&req.Expected, "expected"); err != nil {
				return err
			}
		case foldEqual(key, "trace"):
			if err := d.trace(&req.Trace); err != nil {
				return err
			}
		default:
			if err := d.skip(); err != nil {
				return err
			}
		}
		if done, err := d.next(); done || err != nil {
			return err
		}
	}
}

func (d *scanner) trace(tr *sdk.Trace) error {
	if d.i >= len(d.data) {
		return d.fail("unexpected end of JSON input")
	}
	switch d.data[d.i] {
	case 'n':
		return d.literal("null")
	case '{':
	default:
		if err := d.skip(); err != nil {
			return err
		}
		return d.typeError("trace", "an object")
	}
	d.i++
	if err := d.enter(); err != nil {
		return err
	}
	d.ws()
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		d.depth--
		return nil
	}
	for {
		key, err := d.key()
		if err != nil {
			return err
		}
		d.ws()
		if foldEqual(key, "final_answer") {
			if err := d.stringField(&tr.FinalAnswer, "trace.final_answer"); err != nil {
				return err
			}
		} else if err := d.skip(); err != nil {
			return err
		}
		if done, err := d.next(); done || err != nil {
			return err
		}
	}
}

// stringField decodes a string or null value into *dst (null keeps it).
func (d *scanner) stringField(dst *string, name string) error {
	if d.i >= len(d.data) {
		return d.fail("unexpected end of JSON input")
	}
	switch d.data[d.i] {
	case '"':
		d.i++
		s, err := d.str()
		if err != nil {
			return err
		}
		*dst = string(s)
		return nil
	case 'n':
		return d.literal("null")
	}
	if err := d.skip(); err != nil {
		return err
	}
	return d.typeError(name, "a string")
}
