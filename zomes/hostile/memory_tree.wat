;; memory_tree.wat: a call tree that holds memory at every level. `tree` takes 3 raw bytes
;; [depth, MiB, strict] and calls itself (`call`, Local) with depth - 1. With MiB = 0 each
;; level, once its callee has returned, grows its memory by all it may (1 MiB at a time);
;; with MiB > 0 it grows by MiB first and holds it while its callee runs. It writes every new
;; page, so the pages are resident. strict = 1: it traps when it could not grow by MiB, or
;; when its callee failed. One call tree shares one memory budget, and the memory of the
;; calls that ended must not stay allocated (tests/sandbox/test_memory_budget.py). `hold`
;; keeps memory while it waits in a host function: the conductor-wide budget.
(module
  (type $abi (func (param i32 i32) (result i64)))
  (import "zomehost" "call" (func $call (type $abi)))
  (import "zomehost" "call_remote" (func $call_remote (type $abi)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "\81\a2Ok\c0")                        ;; {"Ok": nil}, 5 bytes
  ;; {"target": {"Local": nil}, "zome_name": "memory_tree", "fn_name": "tree",
  ;;  "payload": bin8(3 bytes, written at run time at 125..127)}, 64 bytes
  (data (i32.const 64)
    "\84\a6target\81\a5Local\c0\a9zome_name\abmemory_tree\a7fn_name\a4tree\a7payload\c4\03\00\00\00")

  (func (export "__zh_alloc") (param $len i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.lt_u (local.get $end) (local.get $p)) (then (return (i32.const 0))))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.eq
              (memory.grow
                (i32.sub (i32.add (i32.shr_u (local.get $end) (i32.const 16)) (i32.const 1))
                         (memory.size)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (i32.and (i32.add (local.get $end) (i32.const 7)) (i32.const -8)))
    (local.get $p))

  (func (export "__zh_free") (param i32 i32))

  ;; grow by $pages and write them all; 0 when the grow was refused
  (func $grow (param $pages i32) (result i32)
    (local $old i32)
    (local.set $old (memory.grow (local.get $pages)))
    (if (i32.eq (local.get $old) (i32.const -1)) (then (return (i32.const 0))))
    (memory.fill (i32.shl (local.get $old) (i32.const 16)) (i32.const 0x5a)
                 (i32.shl (local.get $pages) (i32.const 16)))
    (i32.const 1))

  (func (export "tree") (param $in i32) (param $len i32) (result i64)
    (local $depth i32) (local $mib i32) (local $strict i32) (local $res i64)
    (local.set $depth (i32.load8_u (local.get $in)))
    (local.set $mib (i32.load8_u offset=1 (local.get $in)))
    (local.set $strict (i32.load8_u offset=2 (local.get $in)))
    ;; MiB given: grow by it first, and hold it while the callee runs
    (if (local.get $mib)
      (then
        (if (i32.eqz (call $grow (i32.shl (local.get $mib) (i32.const 4))))
          (then (if (local.get $strict) (then unreachable))))))
    (if (local.get $depth)
      (then
        (i32.store8 (i32.const 125) (i32.sub (local.get $depth) (i32.const 1)))
        (i32.store8 (i32.const 126) (local.get $mib))
        (i32.store8 (i32.const 127) (local.get $strict))
        (local.set $res (call $call (i32.const 64) (i32.const 64)))
        ;; strict: the callee must have succeeded, {"Ok": {"Ok": ...}} (byte 5: fixstr 2)
        (if (i32.and (local.get $strict)
              (i32.ne (i32.load8_u offset=5 (i32.wrap_i64
                        (i64.shr_u (local.get $res) (i64.const 32))))
                      (i32.const 0xa2)))
          (then unreachable))))
    ;; MiB 0: once the callee has returned, grow by all it may
    (if (i32.eqz (local.get $mib))
      (then (loop $more (br_if $more (call $grow (i32.const 16))))))
    (i64.const 0x1000000005))

  ;; hold: [MiB, call_remote input...]: grow by MiB (trap when refused), then wait in
  ;; call_remote (a peer that answers when the test says so) while holding it
  (func (export "hold") (param $in i32) (param $len i32) (result i64)
    (if (i32.eqz (call $grow (i32.shl (i32.load8_u (local.get $in)) (i32.const 4))))
      (then unreachable))
    (drop (call $call_remote (i32.add (local.get $in) (i32.const 1))
                             (i32.sub (local.get $len) (i32.const 1))))
    (i64.const 0x1000000005))

  (func (export "ok") (param i32 i32) (result i64) (i64.const 0x1000000005))
)
