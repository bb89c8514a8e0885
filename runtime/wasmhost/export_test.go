package wasmhost

// ScanModule exposes the module scan to the external tests.
var ScanModule = scanModule

// SetCompileHook makes f run inside every compile, without the host's lock,
// just before wazero compiles; the returned func removes it.
func SetCompileHook(f func(wasm []byte)) (remove func()) {
	testHookCompile = f
	return func() { testHookCompile = nil }
}
