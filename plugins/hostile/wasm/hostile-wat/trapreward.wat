;; A reward plugin that traps on every call: the coach must give its traces the fallback
;; score, count them, and go on. Build: wat2wasm trapreward.wat (plugins/build.sh does it).
(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "1.0")
  (func (export "toolbrain_sdk_version") (result i32)
    (local $off i64)
    (local.set $off (call $alloc (i64.const 3)))
    (call $store_u8 (local.get $off) (i32.const 49))
    (call $store_u8 (i64.add (local.get $off) (i64.const 1)) (i32.const 46))
    (call $store_u8 (i64.add (local.get $off) (i64.const 2)) (i32.const 48))
    (call $output_set (local.get $off) (i64.const 3))
    (i32.const 0))
  (func (export "reward") (result i32)
    unreachable))
