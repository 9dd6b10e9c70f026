;; refused at install: a second memory would escape the per-call memory cap
(module
  (memory (export "memory") 1)
  (memory $m2 1)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32)))
