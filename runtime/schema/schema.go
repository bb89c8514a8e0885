// Package schema validates tool arguments against the JSON Schema in each
// tool's spec (sdk.ToolSpec.Parameters) before the tool plugin is called, so
// that a model's malformed call is answered with an error it can read and
// act on, and a plugin only ever sees arguments of the shape it declared.
//
// Schemas are compiled once ([Compile], [NewSet]) with
// github.com/santhosh-tekuri/jsonschema/v6, draft 2020-12 unless the schema
// names another with $schema. Compiling never reads files or the network: a
// $ref may point only inside the schema itself.
//
// # Errors the agent reads
//
// [Validator.Validate] returns an [*Error] (errors.Is [ErrInvalidArguments])
// whose message lists every problem as "at /path: what was expected", for
// example
//
//	invalid arguments for tool "arith": at /b: got string, want number; at '': missing property 'op'
package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/toolbrain/toolbrain/sdk"
)

// Sentinel errors of the package.
var (
	// ErrInvalidArguments means a tool's arguments do not match its
	// parameters schema (or are not JSON at all).
	ErrInvalidArguments = errors.New("schema: invalid arguments")
	// ErrBadSchema means a tool's parameters schema is not a valid JSON
	// Schema, or refers to a resource outside itself.
	ErrBadSchema = errors.New("schema: invalid schema")
	// ErrUnknownTool means a call names a tool that the set does not hold.
	ErrUnknownTool = errors.New("schema: unknown tool")
)

// printer renders the library's messages in English.
var printer = message.NewPrinter(language.English)

// Problem is one mismatch between arguments and schema.
type Problem struct {
	// Path is the JSON Pointer of the offending value in the arguments
	// ("" for the arguments object itself).
	Path string `json:"path"`
	// Message says what was expected, e.g. "got string, want number".
	Message string `json:"message"`
}

// Error is a validation failure. It matches [ErrInvalidArguments] with
// errors.Is.
type Error struct {
	// Tool is the tool's name.
	Tool string
	// Problems lists the leaf mismatches, sorted by path.
	Problems []Problem
}

// Error names the tool and lists each problem as "path: what is wrong".
func (e *Error) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "invalid arguments for tool %q: ", e.Tool)
	for i, p := range e.Problems {
		if i > 0 {
			sb.WriteString("; ")
		}
		fmt.Fprintf(&sb, "at '%s': %s", p.Path, p.Message)
	}
	return sb.String()
}

// Is reports whether target is ErrInvalidArguments.
func (e *Error) Is(target error) bool { return target == ErrInvalidArguments }

// Validator checks the arguments of one tool. It is immutable and safe for
// concurrent use.
type Validator struct {
	tool   string
	schema *jsonschema.Schema // nil: the tool declared no parameters
}

// noLoader refuses every external reference: a pack's schema must not make
// the host read files or fetch URLs.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external reference %q not allowed; keep $ref inside the schema", url)
}

// Compile compiles the parameters schema of tool. An empty or null schema
// accepts any JSON object (a tool that declares no parameters still takes
// an object, the shape every tool-calling format sends).
func Compile(tool string, parameters json.RawMessage) (*Validator, error) {
	v := &Validator{tool: tool}
	trimmed := bytes.TrimSpace(parameters)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return v, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(trimmed))
	if err != nil {
		return nil, fmt.Errorf("%w: tool %q: parameters are not JSON: %w", ErrBadSchema, tool, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	// A fixed, tool-specific URL: the library identifies schemas by URL,
	// and errors then name the tool rather than a temporary path.
	url := "toolbrain:///tools/" + strings.ReplaceAll(tool, "/", "_") + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("%w: tool %q: %w", ErrBadSchema, tool, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("%w: tool %q: %w", ErrBadSchema, tool, err)
	}
	v.schema = sch
	return v, nil
}

// Tool is the name of the tool whose arguments v checks.
func (v *Validator) Tool() string { return v.tool }

// Validate checks args (a JSON value; empty means {}) and returns nil or an
// [*Error] listing every mismatch.
func (v *Validator) Validate(args json.RawMessage) error {
	trimmed := bytes.TrimSpace(args)
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	}
	// UnmarshalJSON keeps numbers as json.Number, so that integer checks
	// and big values are exact.
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(trimmed))
	if err != nil {
		return &Error{Tool: v.tool, Problems: []Problem{{Message: "arguments are not valid JSON: " + err.Error()}}}
	}
	if v.schema == nil {
		if _, ok := inst.(map[string]any); !ok {
			return &Error{Tool: v.tool, Problems: []Problem{{Message: fmt.Sprintf("got %s, want object", jsonType(inst))}}}
		}
		return nil
	}
	err = v.schema.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &Error{Tool: v.tool, Problems: []Problem{{Message: err.Error()}}}
	}
	e := &Error{Tool: v.tool}
	leaves(ve, &e.Problems)
	sort.SliceStable(e.Problems, func(i, j int) bool { return e.Problems[i].Path < e.Problems[j].Path })
	return e
}

// leaves collects the innermost errors: the outer ones only say "doesn't
// validate with ...", which tells the model nothing.
func leaves(ve *jsonschema.ValidationError, out *[]Problem) {
	if len(ve.Causes) == 0 {
		*out = append(*out, Problem{Path: pointer(ve.InstanceLocation), Message: ve.ErrorKind.LocalizedString(printer)})
		return
	}
	for _, c := range ve.Causes {
		leaves(c, out)
	}
}

// pointer formats a JSON Pointer (RFC 6901).
func pointer(loc []string) string {
	var sb strings.Builder
	for _, tok := range loc {
		sb.WriteByte('/')
		tok = strings.ReplaceAll(tok, "~", "~0")
		sb.WriteString(strings.ReplaceAll(tok, "/", "~1"))
	}
	return sb.String()
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// Set holds the validators of a group of tools (a pack, or every tool an
// agent may call). It is immutable and safe for concurrent use.
type Set struct {
	specs  []sdk.ToolSpec
	byName map[string]*Validator
}

// NewSet compiles every spec's parameters. Tool names must be non-empty and
// unique.
func NewSet(specs []sdk.ToolSpec) (*Set, error) {
	s := &Set{specs: append([]sdk.ToolSpec(nil), specs...), byName: make(map[string]*Validator, len(specs))}
	for i, spec := range specs {
		if spec.Name == "" {
			return nil, fmt.Errorf("%w: tool %d has no name", ErrBadSchema, i)
		}
		if _, dup := s.byName[spec.Name]; dup {
			return nil, fmt.Errorf("%w: tool %q declared twice", ErrBadSchema, spec.Name)
		}
		v, err := Compile(spec.Name, spec.Parameters)
		if err != nil {
			return nil, err
		}
		s.byName[spec.Name] = v
	}
	return s, nil
}

// Specs returns the tools' specs in declaration order.
func (s *Set) Specs() []sdk.ToolSpec { return append([]sdk.ToolSpec(nil), s.specs...) }

// Validate checks a call: the tool must be in the set and its arguments must
// match its schema. Errors match [ErrUnknownTool] or [ErrInvalidArguments].
func (s *Set) Validate(req sdk.ToolCallRequest) error {
	v, ok := s.byName[req.Name]
	if !ok {
		names := make([]string, len(s.specs))
		for i, sp := range s.specs {
			names[i] = sp.Name
		}
		return fmt.Errorf("%w %q; available tools: %s", ErrUnknownTool, req.Name, strings.Join(names, ", "))
	}
	return v.Validate(req.Arguments)
}

// Checked wraps tool so that every call is validated by s first. A call that
// fails validation never reaches tool: it is answered with a
// ToolCallResponse whose IsError is set and whose Content is the error
// message, which is what the agent reads as the observation.
func Checked(tool sdk.Tool, s *Set) sdk.Tool { return checked{tool: tool, set: s} }

type checked struct {
	tool sdk.Tool
	set  *Set
}

var _ sdk.Tool = checked{}

func (c checked) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	if err := c.set.Validate(req); err != nil {
		return sdk.ToolCallResponse{Content: err.Error(), IsError: true}, nil
	}
	return c.tool.CallTool(ctx, req)
}
