;; refused at install: a real host function imported with the wrong signature
(module
  (import "zomehost" "create" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32)))
