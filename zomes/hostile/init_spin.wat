;; init_spin.wat: a zome whose init never returns; the deadline stops it (InitFailed
;; caused by a Timeout) and nothing is written.
(module
  (memory (export "memory") 1)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32))
  (func (export "init") (param i32 i32) (result i64) (loop $l (br $l)) unreachable)
  (func (export "ok") (param i32 i32) (result i64) unreachable)
)
