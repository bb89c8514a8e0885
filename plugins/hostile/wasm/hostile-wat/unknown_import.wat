;; A plugin importing a host function the runtime does not offer; it must be refused at load.
(module
  (import "extism:host/env" "steal_secrets" (func $steal (param i64) (result i64)))
  (func (export "reward") (result i32) (i32.const 0)))
