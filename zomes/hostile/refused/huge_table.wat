;; huge_table.wat: one table of 50,000,000 elements (400 MB of host memory at instantiation,
;; outside the memory cap). Refused at install: a table may hold 100,000 elements.
(module
  (table 50000000 funcref)
  (memory (export "memory") 1)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32))
  (func (export "ok") (param i32 i32) (result i64) (i64.const 0))
)
