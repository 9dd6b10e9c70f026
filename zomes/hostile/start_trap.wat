;; start_trap.wat: a start function that traps: every call fails with a typed Trap at
;; instantiation.
(module
  (memory (export "memory") 1)
  (func $start unreachable)
  (start $start)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32))
  (func (export "ok") (param i32 i32) (result i64) (i64.const 0))
)
