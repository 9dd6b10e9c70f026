;; writer.wat: a well-behaved zome, the workload next to the hostile ones (crash-safety
;; test, latency benchmark, isolation tests).
(module
  (type $abi (func (param i32 i32) (result i64)))
  (import "zomehost" "create" (func $create (type $abi)))
  (import "zomehost" "get" (func $get (type $abi)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))

  (data (i32.const 16) "\81\a2Ok\c0")                         ;; {"Ok": nil}
  (data (i32.const 32) "\82\aaentry_type\a1w\a5entry\c6")     ;; 21 bytes, then BE length

  (func $alloc (export "__zh_alloc") (param $len i32) (result i32)
    (local $p i32) (local $end i32) (local $need i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.lt_u (local.get $end) (local.get $p)) (then (return (i32.const 0))))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then
        (local.set $need
          (i32.sub (i32.add (i32.shr_u (local.get $end) (i32.const 16)) (i32.const 1))
                   (memory.size)))
        (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (i32.and (i32.add (local.get $end) (i32.const 7)) (i32.const -8)))
    (local.get $p))

  (func (export "__zh_free") (param i32 i32))

  (func (export "ok") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 5)))

  ;; create_entry(value): commit {"entry_type": "w", "entry": msgpack(value)}; returns the
  ;; action hash (the host's own {"Ok": hash} envelope is passed straight through).
  (func (export "create_entry") (param $in i32) (param $n i32) (result i64)
    (local $p i32)
    (local.set $p (call $alloc (i32.add (local.get $n) (i32.const 25))))
    (if (i32.eqz (local.get $p)) (then unreachable))
    (memory.copy (local.get $p) (i32.const 32) (i32.const 21))
    (i32.store8 offset=21 (local.get $p) (i32.shr_u (local.get $n) (i32.const 24)))
    (i32.store8 offset=22 (local.get $p) (i32.shr_u (local.get $n) (i32.const 16)))
    (i32.store8 offset=23 (local.get $p) (i32.shr_u (local.get $n) (i32.const 8)))
    (i32.store8 offset=24 (local.get $p) (local.get $n))
    (memory.copy (i32.add (local.get $p) (i32.const 25)) (local.get $in) (local.get $n))
    (call $create (local.get $p) (i32.add (local.get $n) (i32.const 25))))

  ;; get_record({"hash": h}): the input is passed to the host as is.
  (func (export "get_record") (param $in i32) (param $n i32) (result i64)
    (call $get (local.get $in) (local.get $n)))
)
