;; init_trap.wat: a zome whose init traps; the cell must refuse calls with InitFailed,
;; write nothing, and the conductor keep serving other cells.
(module
  (memory (export "memory") 1)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32))
  (func $init (export "init") (param i32 i32) (result i64) unreachable)
  (func (export "ok") (param i32 i32) (result i64) unreachable)
)
