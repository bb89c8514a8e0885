// Package doccheck finds exported identifiers without a doc comment, for
// the tests that keep a public tree documented (runtime/ and sdk/: the
// surface third parties build against). It is test support: nothing outside
// tests imports it.
package doccheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
)

// Missing walks the Go packages under root and returns "file:line: name"
// for every exported identifier that has no doc comment: functions, types,
// constants and variables (a grouped declaration's doc covers its specs),
// methods of exported types, the methods of exported interfaces, and the
// fields of exported structs (a field without its own comment is covered
// by the doc comment of the field that opens its block of adjacent lines).
// Test files, generated files, testdata directories and main packages are
// skipped. An error means root could not be walked or a file not parsed;
// it names the file.
func Missing(root string) ([]string, error) {
	var missing []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return fmt.Errorf("doccheck: %w", err)
		}
		if f.Name.Name == "main" || ast.IsGenerated(f) {
			return nil
		}
		for _, m := range file(fset, f) {
			p := fset.Position(m.Pos())
			missing = append(missing, fmt.Sprintf("%s:%d: %s", filepath.ToSlash(p.Filename), p.Line, m.Name))
		}
		return nil
	})
	sort.Strings(missing)
	return missing, err
}

// file returns the undocumented exported identifiers of one file.
func file(fset *token.FileSet, f *ast.File) []*ast.Ident {
	var out []*ast.Ident
	exportedTypes := map[string]bool{}
	for _, decl := range f.Decls {
		if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.TYPE {
			for _, s := range g.Specs {
				if ts := s.(*ast.TypeSpec); ts.Name.IsExported() {
					exportedTypes[ts.Name.Name] = true
				}
			}
		}
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() || d.Doc != nil {
				continue
			}
			if d.Recv != nil && !exportedTypes[receiverType(d.Recv)] {
				continue // a method of an unexported type is not API
			}
			out = append(out, d.Name)
		case *ast.GenDecl:
			if d.Tok == token.IMPORT {
				continue
			}
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if !s.Name.IsExported() {
						continue
					}
					if s.Doc == nil && d.Doc == nil {
						out = append(out, s.Name)
					}
					if st, ok := s.Type.(*ast.StructType); ok {
						out = append(out, fields(fset, s.Name.Name, st)...)
					}
					if it, ok := s.Type.(*ast.InterfaceType); ok {
						for _, m := range it.Methods.List {
							for _, name := range m.Names {
								if name.IsExported() && m.Doc == nil && m.Comment == nil {
									out = append(out, &ast.Ident{Name: s.Name.Name + "." + name.Name, NamePos: name.NamePos})
								}
							}
						}
					}
				case *ast.ValueSpec:
					if s.Doc != nil || d.Doc != nil || s.Comment != nil {
						continue
					}
					for _, name := range s.Names {
						if name.IsExported() {
							out = append(out, name)
						}
					}
				}
			}
		}
	}
	return out
}

// fields returns the undocumented exported fields of struct st of type
// name. A field is documented by its own doc or line comment, or by the doc
// comment that opens its block: the fields on the lines just above it,
// with no blank line between.
func fields(fset *token.FileSet, name string, st *ast.StructType) []*ast.Ident {
	var out []*ast.Ident
	covered, prevEnd := false, -1
	for _, fl := range st.Fields.List {
		line := fset.Position(fl.Pos()).Line
		if fl.Doc != nil {
			line = fset.Position(fl.Doc.Pos()).Line
		}
		switch {
		case fl.Doc != nil || fl.Comment != nil:
			covered = true
		case line != prevEnd+1:
			covered = false
		}
		prevEnd = fset.Position(fl.End()).Line
		if covered {
			continue
		}
		for _, n := range fl.Names {
			if n.IsExported() {
				out = append(out, &ast.Ident{Name: name + "." + n.Name, NamePos: n.NamePos})
			}
		}
	}
	return out
}

// receiverType is the name of a method's receiver type, without * or type
// parameters.
func receiverType(recv *ast.FieldList) string {
	t := recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}
