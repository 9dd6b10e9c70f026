;; alloc_spin.wat: an allocator that never returns. Every call spins in it while the host
;; writes the call's input: a Timeout that says so ("in the guest allocator"), not "in
;; guest code".
(module
  (memory (export "memory") 1)
  (func (export "__zh_alloc") (param i32) (result i32) (loop $spin (br $spin)) (i32.const 0))
  (func (export "__zh_free") (param i32 i32))
  (func (export "ok") (param i32 i32) (result i64) (i64.const 0))
)
