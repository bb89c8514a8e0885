package wasmhost

// ScanModule exposes the module scan to the external tests.
var ScanModule = scanModule
