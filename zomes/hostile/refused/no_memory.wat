;; refused at install: "memory" is not a memory
(module
  (memory 1)
  (func (export "memory") (param i32 i32) (result i64) (i64.const 0))
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32)))
