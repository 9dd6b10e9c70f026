;; max_tables.wat: the most an instance may declare: 4 tables of 100,000 elements, each
;; allowed to grow (growth stops at 100,000: `grow` returns -1, then 0). Called again and again
;; on one thread between other zomes, it must never make their instantiation fail.
(module
  (table $a 100000 funcref)
  (table $b 100000 funcref)
  (table $c 100000 funcref)
  (table $d 100000 200000 funcref)
  (memory (export "memory") 1)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32))
  (data (i32.const 16) "\81\a2Ok\c0")                         ;; {"Ok": nil}, 5 bytes
  (func (export "ok") (param i32 i32) (result i64) (i64.const 0x1000000005))
  ;; {"Ok": nil} when the table could not grow past 100,000 elements, else a trap
  (func (export "grow") (param i32 i32) (result i64)
    (if (i32.ne (table.grow $d (ref.null func) (i32.const 1)) (i32.const -1))
      (then unreachable))
    (i64.const 0x1000000005))
)
