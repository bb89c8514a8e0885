//go:build wasip1

// Command hostile-go tries to reach outside its sandbox: it reads a host file
// and an environment variable named in its input and reports what it got. The
// runtime's tests check that it gets nothing unless the configuration grants
// the path or the variable. It also panics on demand.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hostile-go.wasm ./plugins/hostile/wasm/hostile-go
package main

import (
	"encoding/json"
	"os"

	pdk "github.com/extism/go-pdk"
)

type probe struct {
	File string `json:"file"`
	Env  string `json:"env"`
}

type result struct {
	FileContent string `json:"file_content"`
	FileError   string `json:"file_error"`
	Env         string `json:"env"`
	EnvFound    bool   `json:"env_found"`
}

//go:wasmexport probe
func probeFn() int32 {
	var p probe
	if err := json.Unmarshal(pdk.Input(), &p); err != nil {
		pdk.SetError(err)
		return 1
	}
	var r result
	if b, err := os.ReadFile(p.File); err != nil {
		r.FileError = err.Error()
	} else {
		r.FileContent = string(b)
	}
	r.Env, r.EnvFound = os.LookupEnv(p.Env)
	if err := pdk.OutputJSON(r); err != nil {
		pdk.SetError(err)
		return 1
	}
	return 0
}

//go:wasmexport panic
func panicFn() int32 {
	panic("hostile plugin panics")
}

//go:wasmexport hog
func hog() int32 {
	// Allocate until the runtime says no.
	var keep [][]byte
	for {
		keep = append(keep, make([]byte, 8<<20))
		keep[len(keep)-1][0] = 1
	}
}

//go:wasmexport toolbrain_sdk_version
func sdkVersion() int32 {
	pdk.OutputString("1.0")
	return 0
}

func main() {}
