;; init_reenter_b.wat (role "b"): `back` calls role "a"'s `ok` (see init_reenter_a.wat).
(module
  (type $abi (func (param i32 i32) (result i64)))
  (import "zomehost" "call" (func $call (type $abi)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  ;; {"target": {"Role": "a"}, "zome_name": "a", "fn_name": "ok", "payload": bin(nil)}
  (data (i32.const 64)
    "\84\a6target\81\a4Role\a1a\a9zome_name\a1a\a7fn_name\a2ok\a7payload\c4\01\c0")
  (func (export "__zh_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p) (local.get $len)))
    (if (i32.gt_u (global.get $heap) (i32.const 131072)) (then (return (i32.const 0))))
    (local.get $p))
  (func (export "__zh_free") (param i32 i32))
  (func (export "back") (param i32 i32) (result i64)
    (call $call (i32.const 64) (i32.const 50)))
)
