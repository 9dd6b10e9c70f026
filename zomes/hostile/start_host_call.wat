;; start_host_call.wat: a start function that calls host functions (`create`, then
;; `sys_time`). Host functions serve zome calls, and a start function runs before there is
;; one: both are refused with a typed Trap at instantiation, on every wasm boundary. Called
;; nested (hostile.host_raw -> `call` -> this zome), the refusal must not serve the *caller*
;; instead: the pointer below is the caller's `create` input too (hostile.wat, byte 256).
(module
  (type $abi (func (param i32 i32) (result i64)))
  (import "zomehost" "create" (func $create (type $abi)))
  (import "zomehost" "sys_time" (func $sys_time (type $abi)))
  (memory (export "memory") 1)
  (data (i32.const 256) "\82\aaentry_type\a1h\a5entry\c4\01\c0")
  (func $start
    (drop (call $create (i32.const 256) (i32.const 23)))
    (drop (call $sys_time (i32.const 8) (i32.const 1))))
  (start $start)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32))
  (func (export "ok") (param i32 i32) (result i64) (i64.const 0))
)
