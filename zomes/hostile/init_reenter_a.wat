;; init_reenter_a.wat (role "a"): init makes a bridge call to role "b", whose `back`
;; calls `ok` here, while this cell's init is still running. The host must refuse the
;; re-entrant call into a cell that is initialising (not deadlock on its init lock).
(module
  (type $abi (func (param i32 i32) (result i64)))
  (import "zomehost" "call" (func $call (type $abi)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (data (i32.const 16) "\81\a2Ok\c0")
  (data (i32.const 32) "\81\a2Ok\a4Pass")
  ;; {"target": {"Role": "b"}, "zome_name": "b", "fn_name": "back", "payload": bin(nil)}
  (data (i32.const 64)
    "\84\a6target\81\a4Role\a1b\a9zome_name\a1b\a7fn_name\a4back\a7payload\c4\01\c0")
  (func (export "__zh_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p) (local.get $len)))
    (if (i32.gt_u (global.get $heap) (i32.const 131072)) (then (return (i32.const 0))))
    (local.get $p))
  (func (export "__zh_free") (param i32 i32))
  (func (export "init") (param i32 i32) (result i64)
    (drop (call $call (i32.const 64) (i32.const 52)))
    (i64.or (i64.shl (i64.const 32) (i64.const 32)) (i64.const 9)))
  (func (export "ok") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 5)))
)
