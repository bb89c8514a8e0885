;; Hostile plugin functions for the runtime's containment tests; each export misbehaves in
;; one way. Build: wat2wasm main.wat -o hostile-wat.wasm (plugins/build.sh does it).
(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "log_info" (func $log_info (param i64)))
  (import "extism:host/user" "toolbrain_call_tool" (func $call_tool (param i64) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "1.0")
  (data (i32.const 16) "{\22score\22:NaN}")     ;; 13 bytes
  (data (i32.const 32) "{\22score\22: 1")      ;; 11 bytes, truncated JSON
  (data (i32.const 48) "{\22score\22:0.5}")     ;; 13 bytes
  (data (i32.const 64) "{\22name\22:\22x\22}")   ;; 12 bytes

  (func $out (param $ptr i32) (param $len i32)
    (local $off i64) (local $i i32)
    (local.set $off (call $alloc (i64.extend_i32_u (local.get $len))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (call $store_u8 (i64.add (local.get $off) (i64.extend_i32_u (local.get $i)))
        (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $output_set (local.get $off) (i64.extend_i32_u (local.get $len))))

  (func $copy (param $ptr i32) (param $len i32) (result i64)
    (local $off i64) (local $i i32)
    (local.set $off (call $alloc (i64.extend_i32_u (local.get $len))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (call $store_u8 (i64.add (local.get $off) (i64.extend_i32_u (local.get $i)))
        (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $off))

  (func (export "toolbrain_sdk_version") (result i32)
    (call $out (i32.const 0) (i32.const 3)) (i32.const 0))

  ;; A well-behaved reward, to show the plugin still serves after the others.
  (func (export "reward") (result i32)
    (call $out (i32.const 48) (i32.const 13)) (i32.const 0))

  (func (export "loop") (result i32)
    (loop $forever (br $forever))
    (i32.const 0))

  (func (export "grow") (result i32)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable)

  ;; 100 MiB of output.
  (func (export "bigout") (result i32)
    (local $off i64)
    (local.set $off (call $alloc (i64.const 104857600)))
    (call $output_set (local.get $off) (i64.const 104857600))
    (i32.const 0))

  (func (export "trap") (result i32)
    (drop (i32.div_u (i32.const 1) (i32.const 0)))
    (i32.const 0))

  (func (export "nan") (result i32)
    (call $out (i32.const 16) (i32.const 13)) (i32.const 0))

  (func (export "badjson") (result i32)
    (call $out (i32.const 32) (i32.const 11)) (i32.const 0))

  ;; Calls a tool and a logger without being granted either.
  (func (export "calltool") (result i32)
    (drop (call $call_tool (call $copy (i32.const 64) (i32.const 12))))
    (i32.const 0))
  (func (export "log") (result i32)
    (call $log_info (call $copy (i32.const 0) (i32.const 3)))
    (i32.const 0))

  ;; Reads kernel memory it never allocated.
  (func (export "wild") (result i32)
    (call $output_set (i64.const 1000000) (i64.const 8))
    (i32.const 0))
)
