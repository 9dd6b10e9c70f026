;; refused at install: GC types allocate outside linear memory, past the memory cap
(module
  (type $big (array (mut i64)))
  (memory (export "memory") 1)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32))
  (func (export "bomb") (param i32 i32) (result i64)
    (loop $l (drop (array.new_default $big (i32.const 100000000))) (br $l))
    (i64.const 0)))
