;; refused at install: imports a zomehost function that does not exist
(module
  (import "zomehost" "exec" (func (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32)))
