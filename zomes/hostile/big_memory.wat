;; big_memory.wat: asks for 2 GiB of memory up front: every call fails with OutOfMemory.
(module
  (memory (export "memory") 32768)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32))
  (func (export "ok") (param i32 i32) (result i64) (i64.const 0))
)
