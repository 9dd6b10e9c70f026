;; start_spin.wat: a start function that never returns: instantiation itself must be
;; stopped by the call's deadline.
(module
  (memory (export "memory") 1)
  (func $start (loop $l (br $l)))
  (start $start)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32))
  (func (export "ok") (param i32 i32) (result i64) (i64.const 0))
)
