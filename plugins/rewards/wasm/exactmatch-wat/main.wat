;; The exact-match reward, hand-written in WebAssembly text.
;;
;; Input: an sdk.RewardRequest, {"expected": "...", "trace": {"final_answer": "...", ...}}.
;; Output: {"score":1} when the trace's final answer equals the expected answer, else {"score":0}.
;;
;; There is no JSON parser here. The SDK guarantees that "expected" is the request's first
;; field and "final_answer" the trace's first field, so the first occurrence of each key is
;; the one we want (a key inside a string value would have its quotes escaped). The two
;; strings are compared in their escaped JSON form, which is equal exactly when the decoded
;; strings are, because the host's encoder escapes canonically.
;;
;; Build: wat2wasm main.wat -o exactmatch-wat.wasm (plugins/build.sh does it).
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "error_set" (func $error_set (param i64)))

  (memory (export "memory") 1)
  (data (i32.const 0) "\22expected\22:\22")           ;; 12 bytes
  (data (i32.const 32) "\22final_answer\22:\22")      ;; 16 bytes
  (data (i32.const 64) "{\22score\22:1}")             ;; 11 bytes
  (data (i32.const 80) "{\22score\22:0}")             ;; 11 bytes
  (data (i32.const 96) "1.0")                         ;; 3 bytes
  (data (i32.const 112) "exactmatch: request has no expected or final_answer") ;; 51 bytes

  ;; The input is copied here.
  (global $in i32 (i32.const 1024))

  ;; output copies len bytes at ptr of linear memory into host memory and sets it as output.
  (func $output (param $ptr i32) (param $len i32)
    (local $off i64) (local $i i32)
    (local.set $off (call $alloc (i64.extend_i32_u (local.get $len))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (call $store_u8
          (i64.add (local.get $off) (i64.extend_i32_u (local.get $i)))
          (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $output_set (local.get $off) (i64.extend_i32_u (local.get $len))))

  ;; find returns the index in the input (length n) just past the first occurrence of the
  ;; pattern at pat (length plen), or -1.
  (func $find (param $n i32) (param $pat i32) (param $plen i32) (result i32)
    (local $i i32) (local $j i32)
    (block $notfound
      (loop $outer
        (br_if $notfound (i32.gt_u (i32.add (local.get $i) (local.get $plen)) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $inner
            (if (i32.ge_u (local.get $j) (local.get $plen))
              (then (return (i32.add (local.get $i) (local.get $plen)))))
            (br_if $mismatch
              (i32.ne
                (i32.load8_u (i32.add (global.get $in) (i32.add (local.get $i) (local.get $j))))
                (i32.load8_u (i32.add (local.get $pat) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const -1))

  ;; strend returns the index of the closing quote of the JSON string starting at i.
  (func $strend (param $n i32) (param $i i32) (result i32)
    (local $c i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (global.get $in) (local.get $i))))
        (br_if $done (i32.eq (local.get $c) (i32.const 34)))       ;; '"'
        (if (i32.eq (local.get $c) (i32.const 92))                 ;; '\\' skips the next byte
          (then (local.set $i (i32.add (local.get $i) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $i))

  (func (export "toolbrain_sdk_version") (result i32)
    (call $output (i32.const 96) (i32.const 3))
    (i32.const 0))

  (func (export "reward") (result i32)
    (local $n i32) (local $i i32) (local $need i32)
    (local $e i32) (local $eend i32) (local $f i32) (local $fend i32) (local $len i32)
    (local.set $n (i32.wrap_i64 (call $input_length)))
    ;; Grow memory to hold the input (plus 8 bytes of slack for the last word).
    (local.set $need
      (i32.sub
        (i32.div_u (i32.add (i32.add (global.get $in) (local.get $n)) (i32.const 65543)) (i32.const 65536))
        (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then unreachable))))
    ;; Copy the input a word at a time.
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i64.store (i32.add (global.get $in) (local.get $i))
          (call $input_load_u64 (i64.extend_i32_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (local.set $e (call $find (local.get $n) (i32.const 0) (i32.const 12)))
    (local.set $f (call $find (local.get $n) (i32.const 32) (i32.const 16)))
    (if (i32.or (i32.lt_s (local.get $e) (i32.const 0)) (i32.lt_s (local.get $f) (i32.const 0)))
      (then
        (call $error_set (call $alloc_copy (i32.const 112) (i32.const 51)))
        (return (i32.const 1))))
    (local.set $eend (call $strend (local.get $n) (local.get $e)))
    (local.set $fend (call $strend (local.get $n) (local.get $f)))
    (local.set $len (i32.sub (local.get $eend) (local.get $e)))
    (if (i32.ne (local.get $len) (i32.sub (local.get $fend) (local.get $f)))
      (then (call $output (i32.const 80) (i32.const 11)) (return (i32.const 0))))
    (local.set $i (i32.const 0))
    (block $differ
      (loop $next
        (if (i32.ge_u (local.get $i) (local.get $len))
          (then (call $output (i32.const 64) (i32.const 11)) (return (i32.const 0))))
        (br_if $differ
          (i32.ne
            (i32.load8_u (i32.add (global.get $in) (i32.add (local.get $e) (local.get $i))))
            (i32.load8_u (i32.add (global.get $in) (i32.add (local.get $f) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $output (i32.const 80) (i32.const 11))
    (i32.const 0))

  ;; alloc_copy copies len bytes at ptr into a new host block and returns its offset.
  (func $alloc_copy (param $ptr i32) (param $len i32) (result i64)
    (local $off i64) (local $i i32)
    (local.set $off (call $alloc (i64.extend_i32_u (local.get $len))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (call $store_u8
          (i64.add (local.get $off) (i64.extend_i32_u (local.get $i)))
          (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $off))
)
