package chattemplate

// The control structures the environment adds or replaces: the
// {% generation %} tag of assistant-mask templates, and macros with a
// bounded call depth.

import (
	"fmt"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// generationControlStructure is transformers' {% generation %} ...
// {% endgeneration %} block, which marks assistant text for training masks.
// Here it renders its body unchanged, as transformers does when no mask is
// asked for.
type generationControlStructure struct {
	location *tokens.Token
	wrapper  *nodes.Wrapper
}

func (g *generationControlStructure) Position() *tokens.Token { return g.location }
func (g *generationControlStructure) String() string {
	return fmt.Sprintf("GenerationControlStructure(Line=%d Col=%d)", g.location.Line, g.location.Col)
}

func (g *generationControlStructure) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	// Same scope as the surrounding block: the body is the caller() of a
	// call block in Jinja, which sees and may not change outer variables.
	return r.ExecuteWrapper(g.wrapper)
}

func generationParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	g := &generationControlStructure{location: p.Current()}
	if !args.End() {
		return nil, args.Error("generation takes no arguments", args.Current())
	}
	wrapper, endargs, err := p.WrapUntil("endgeneration")
	if err != nil {
		return nil, err
	}
	if !endargs.End() {
		return nil, endargs.Error("endgeneration takes no arguments", nil)
	}
	g.wrapper = wrapper
	return g, nil
}

// maxMacroDepth bounds macro recursion. Python stops runaway recursion with
// RecursionError; in Go it would be a fatal stack overflow, which no
// recover() catches.
const maxMacroDepth = 64

// boundedMacroControlStructure defines a macro as the engine does, wrapped in
// a depth counter. Each definition made during a render gets its own
// counter, so direct and mutual recursion are both bounded.
type boundedMacroControlStructure struct {
	nodes.ControlStructure
	macro *nodes.Macro
}

func boundedMacroParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	inner, err := builtinMacroParser(p, args)
	if err != nil {
		return nil, err
	}
	mcs, ok := inner.(*controlStructures.MacroControlStructure)
	if !ok {
		return nil, fmt.Errorf("unexpected macro node %T", inner)
	}
	return &boundedMacroControlStructure{ControlStructure: inner, macro: mcs.Macro}, nil
}

var builtinMacroParser = func() parser.ControlStructureParser {
	p, _ := builtins.ControlStructures.Get("macro")
	return p
}()

func (b *boundedMacroControlStructure) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	fn, err := exec.MacroNodeToFunc(b.macro, r)
	if err != nil {
		return fmt.Errorf("macro %s: %w", b.macro.Name, err)
	}
	depth := 0
	bud, _ := r.Environment.Context.Get(budgetVar)
	r.Environment.Context.Set(b.macro.Name, func(params *exec.VarArgs) *exec.Value {
		if bud, ok := bud.(*budget); ok {
			if err := bud.charge(1, 0); err != nil {
				return exec.AsValue(err)
			}
		}
		if depth >= maxMacroDepth {
			return exec.AsValue(fmt.Errorf("macro %s: recursion deeper than %d", b.macro.Name, maxMacroDepth))
		}
		depth++
		defer func() { depth-- }()
		return fn(params)
	})
	return nil
}
