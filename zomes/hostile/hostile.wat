;; hostile.wat: a zome that attacks its host every way the ABI (docs/abi.md) lets it.
;;
;; Every export is one attack; tests/sandbox runs each and checks that the conductor
;; contains it with the right typed error, writes nothing, and keeps serving other cells.
;; Memory layout: 0..1024 static data, the bump heap from 64 KiB up.
(module
  (type $abi (func (param i32 i32) (result i64)))
  (import "zomehost" "agent_info" (func $agent_info (type $abi)))
  (import "zomehost" "dna_info" (func $dna_info (type $abi)))
  (import "zomehost" "zome_info" (func $zome_info (type $abi)))
  (import "zomehost" "call_info" (func $call_info (type $abi)))
  (import "zomehost" "create" (func $create (type $abi)))
  (import "zomehost" "get" (func $get (type $abi)))
  (import "zomehost" "update" (func $update (type $abi)))
  (import "zomehost" "delete" (func $delete (type $abi)))
  (import "zomehost" "query" (func $query (type $abi)))
  (import "zomehost" "random_bytes" (func $random_bytes (type $abi)))
  (import "zomehost" "sys_time" (func $sys_time (type $abi)))
  (import "zomehost" "sign" (func $sign (type $abi)))
  (import "zomehost" "verify_signature" (func $verify_signature (type $abi)))
  (import "zomehost" "trace" (func $trace (type $abi)))
  (import "zomehost" "emit_signal" (func $emit_signal (type $abi)))
  (import "zomehost" "call" (func $call (type $abi)))
  (import "zomehost" "call_remote" (func $call_remote (type $abi)))
  (import "zomehost" "send_remote_signal" (func $send_remote_signal (type $abi)))
  (import "zomehost" "generate_cap_secret" (func $generate_cap_secret (type $abi)))
  (import "zomehost" "create_cap_grant" (func $create_cap_grant (type $abi)))
  (import "zomehost" "update_cap_grant" (func $update_cap_grant (type $abi)))
  (import "zomehost" "delete_cap_grant" (func $delete_cap_grant (type $abi)))
  (import "zomehost" "create_cap_claim" (func $create_cap_claim (type $abi)))
  (import "zomehost" "capability_grants" (func $capability_grants (type $abi)))
  (import "zomehost" "capability_claims" (func $capability_claims (type $abi)))
  (import "zomehost" "hash_entry" (func $hash_entry (type $abi)))
  (import "zomehost" "hash_action" (func $hash_action (type $abi)))
  (import "zomehost" "hash_blake2b" (func $hash_blake2b (type $abi)))
  (import "zomehost" "box_encrypt" (func $box_encrypt (type $abi)))
  (import "zomehost" "box_decrypt" (func $box_decrypt (type $abi)))
  (import "zomehost" "secretbox_encrypt" (func $secretbox_encrypt (type $abi)))
  (import "zomehost" "secretbox_decrypt" (func $secretbox_decrypt (type $abi)))
  (import "zomehost" "schedule" (func $schedule (type $abi)))
  (import "zomehost" "create_clone_cell" (func $create_clone_cell (type $abi)))
  (import "zomehost" "disable_clone_cell" (func $disable_clone_cell (type $abi)))
  (import "zomehost" "enable_clone_cell" (func $enable_clone_cell (type $abi)))
  (import "zomehost" "delete_clone_cell" (func $delete_clone_cell (type $abi)))

  (memory (export "memory") 2)

  ;; Every host function, indexed in HOST_FUNCTIONS order (host/zomehost/ribosome/engine.py).
  (table $host 37 funcref)
  (elem (table $host) (i32.const 0) func
    $agent_info $dna_info $zome_info $call_info $create $get $update $delete $query
    $random_bytes $sys_time $sign $verify_signature $trace $emit_signal $call $call_remote
    $send_remote_signal $generate_cap_secret $create_cap_grant $update_cap_grant
    $delete_cap_grant $create_cap_claim $capability_grants $capability_claims
    $hash_entry $hash_action $hash_blake2b $box_encrypt $box_decrypt $secretbox_encrypt
    $secretbox_decrypt $schedule $create_clone_cell $disable_clone_cell $enable_clone_cell
    $delete_clone_cell)
  (table $scratch 0 funcref)

  (global $heap (mut i32) (i32.const 65536))
  (global $alloc_mode (mut i32) (i32.const 0))
  (global $counter (mut i32) (i32.const 0))

  (data (i32.const 8) "\c0")                                  ;; nil
  (data (i32.const 16) "\81\a2Ok\c0")                         ;; {"Ok": nil}, 5 bytes
  (data (i32.const 24) "\81\a3Err\a4nope")                    ;; {"Err": "nope"}, 10 bytes
  ;; {"target": {"Local": nil}, "zome_name": "hostile", "fn_name": "reenter_self",
  ;;  "payload": bin(nil)}, 66 bytes
  (data (i32.const 48)
    "\84\a6target\81\a5Local\c0\a9zome_name\a7hostile\a7fn_name\acreenter_self\a7payload\c4\01\c0")
  ;; the same for "reenter_deep_stack", 72 bytes
  (data (i32.const 128)
    "\84\a6target\81\a5Local\c0\a9zome_name\a7hostile\a7fn_name\b2reenter_deep_stack\a7payload\c4\01\c0")
  (data (i32.const 208) "\82\a5level\a5error\a3msg\a5flood")  ;; trace input, 23 bytes
  (data (i32.const 240) "\c4\01\c0")                          ;; emit_signal input: bin(nil)
  (data (i32.const 256) "\82\aaentry_type\a1h\a5entry\c4\01\c0") ;; create input, 23 bytes
  ;; create input header for a big entry: {"entry_type": "h", "entry": bin32(...)}, 21 bytes
  ;; followed by the 4-byte big-endian length, written at run time
  (data (i32.const 288) "\82\aaentry_type\a1h\a5entry\c6")
  (data (i32.const 320) "\c1\c1\c1\c1\c1\c1\c1\c1")          ;; never-valid msgpack
  ;; byte 400: the isolation marker

  ;; -- the allocator: a bump heap, with hostile modes set by `alloc_mode` ----------------
  (func $alloc (export "__zh_alloc") (param $len i32) (result i32)
    (local $p i32) (local $end i32) (local $need i32) (local $mode i32)
    (local.set $mode (global.get $alloc_mode))
    (if (i32.eq (local.get $mode) (i32.const 1)) (then (return (i32.const 0xFFFFFFF0))))
    (if (i32.eq (local.get $mode) (i32.const 2)) (then (return (i32.const 0))))
    (if (i32.eq (local.get $mode) (i32.const 3)) (then unreachable))
    (if (i32.eq (local.get $mode) (i32.const 4))                ;; re-enter the host
      (then (drop (call $sys_time (i32.const 8) (i32.const 1)))))
    (if (i32.eq (local.get $mode) (i32.const 5)) (then (loop $spin (br $spin))))
    (if (i32.eq (local.get $mode) (i32.const 6))                ;; a block that runs off the end
      (then (return (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 4)))))
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

  (func (export "__zh_free") (param i32 i32)
    (if (i32.eq (global.get $alloc_mode) (i32.const 7)) (then unreachable)))

  ;; -- helpers --------------------------------------------------------------------------
  (func $pack (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))

  (func $ok_nil (result i64) (call $pack (i32.const 16) (i32.const 5)))

  ;; the header size and the length of a msgpack bin at $p (bin8, bin16 or bin32)
  (func $bin_hdr (param $p i32) (result i32)
    (local $t i32)
    (local.set $t (i32.load8_u (local.get $p)))
    (if (result i32) (i32.eq (local.get $t) (i32.const 0xc4))
      (then (i32.const 2))
      (else (if (result i32) (i32.eq (local.get $t) (i32.const 0xc5))
        (then (i32.const 3)) (else (i32.const 5))))))

  (func $bin_len (param $p i32) (result i32)
    (local $t i32)
    (local.set $t (i32.load8_u (local.get $p)))
    (if (result i32) (i32.eq (local.get $t) (i32.const 0xc4))
      (then (i32.load8_u offset=1 (local.get $p)))
      (else (if (result i32) (i32.eq (local.get $t) (i32.const 0xc5))
        (then (i32.or (i32.shl (i32.load8_u offset=1 (local.get $p)) (i32.const 8))
                      (i32.load8_u offset=2 (local.get $p))))
        (else (i32.or
          (i32.or (i32.shl (i32.load8_u offset=1 (local.get $p)) (i32.const 24))
                  (i32.shl (i32.load8_u offset=2 (local.get $p)) (i32.const 16)))
          (i32.or (i32.shl (i32.load8_u offset=3 (local.get $p)) (i32.const 8))
                  (i32.load8_u offset=4 (local.get $p)))))))))

  ;; write {"entry_type": "h", "entry": bin32(n bytes)} on the heap; returns its pointer
  (func $big_create_input (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (call $alloc (i32.add (local.get $n) (i32.const 25))))
    (if (i32.eqz (local.get $p)) (then unreachable))
    (memory.copy (local.get $p) (i32.const 288) (i32.const 21))
    (i32.store8 offset=21 (local.get $p) (i32.shr_u (local.get $n) (i32.const 24)))
    (i32.store8 offset=22 (local.get $p) (i32.shr_u (local.get $n) (i32.const 16)))
    (i32.store8 offset=23 (local.get $p) (i32.shr_u (local.get $n) (i32.const 8)))
    (i32.store8 offset=24 (local.get $p) (local.get $n))
    (memory.fill (i32.add (local.get $p) (i32.const 25)) (i32.const 0x41) (local.get $n))
    (local.get $p))

  ;; -- well-behaved functions ----------------------------------------------------------
  (func (export "ok") (param i32 i32) (result i64) (call $ok_nil))

  ;; A small create, committed: its post_commit traps (see below).
  (func (export "create_entry") (param i32 i32) (result i64)
    (call $create (i32.const 256) (i32.const 23)))

  ;; Isolation: [calls seen by this instance, marker left in memory by an earlier call].
  ;; A fresh instance per call answers [1, 0] every time.
  (func (export "counter") (param i32 i32) (result i64)
    (local $p i32) (local $old i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (local.set $old (i32.load8_u (i32.const 400)))
    (i32.store8 (i32.const 400) (i32.const 1))
    (local.set $p (call $alloc (i32.const 8)))
    (i32.store (local.get $p) (i32.const 0x4f_a2_81))          ;; 81 a2 'O' (then 'k')
    (i32.store8 offset=3 (local.get $p) (i32.const 0x6b))
    (i32.store8 offset=4 (local.get $p) (i32.const 0x92))      ;; [a, b] as fixints
    (i32.store8 offset=5 (local.get $p) (i32.and (global.get $counter) (i32.const 0x7f)))
    (i32.store8 offset=6 (local.get $p) (local.get $old))
    (call $pack (local.get $p) (i32.const 7)))

  ;; -- time, memory and stack -------------------------------------------------------------
  (func $spin (export "spin") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    unreachable)

  ;; grow 1 MiB at a time until refused, then abort like an allocator would
  (func $memory_bomb (export "memory_bomb") (param i32 i32) (result i64)
    (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable)

  ;; the same, but write every byte it gets (resident memory, not just reserved)
  (func $memory_fill_bomb (export "memory_fill_bomb") (param i32 i32) (result i64)
    (local $old i32)
    (loop $more
      (local.set $old (memory.grow (i32.const 16)))
      (if (i32.ne (local.get $old) (i32.const -1))
        (then
          (memory.fill (i32.shl (local.get $old) (i32.const 16)) (i32.const 1) (i32.const 1048576))
          (br $more))))
    unreachable)

  ;; a doubling vector: ask for as much again as we have until refused, then abort
  (func $memory_bomb_doubling (export "memory_bomb_doubling") (param i32 i32) (result i64)
    (loop $more (br_if $more (i32.ne (memory.grow (memory.size)) (i32.const -1))))
    unreachable)

  (func $recurse (export "recurse") (param $a i32) (param $b i32) (result i64)
    (i64.add (call $recurse (i32.add (local.get $a) (i32.const 1)) (local.get $b))
             (i64.const 1)))

  ;; -- outputs ---------------------------------------------------------------------------
  (func (export "huge_output") (param i32 i32) (result i64)   ;; claims 4 GiB - 1
    (call $pack (i32.const 16) (i32.const -1)))

  (func (export "oob_output") (param i32 i32) (result i64)
    (call $pack (i32.const 0xFFFFFF00) (i32.const 1000)))

  (func (export "big_output") (param i32 i32) (result i64)    ;; 5 MiB, in bounds
    (local $p i32)
    (local.set $p (call $alloc (i32.const 5242880)))
    (call $pack (local.get $p) (i32.const 5242880)))

  (func (export "garbage_output") (param i32 i32) (result i64)
    (call $pack (i32.const 320) (i32.const 8)))

  (func (export "err_output") (param i32 i32) (result i64)
    (call $pack (i32.const 24) (i32.const 10)))

  ;; -- the raw ABI: any host function, any pointer, any bytes ----------------------------
  ;; Input: bin([index u8][mode u8][ptr u32 le][len u32 le][data...]).
  ;;   mode 0: call host[index](ptr, len)            (bad pointers and lengths)
  ;;   mode 1: call host[index](&data, len(data))    (any bytes as the host input)
  ;; The host's result envelope is returned as this function's own result.
  (func (export "host_raw") (param $in i32) (param $in_len i32) (result i64)
    (local $d i32) (local $n i32) (local $idx i32) (local $ptr i32) (local $len i32)
    (local.set $d (i32.add (local.get $in) (call $bin_hdr (local.get $in))))
    (local.set $n (call $bin_len (local.get $in)))
    (local.set $idx (i32.load8_u (local.get $d)))
    (local.set $ptr (i32.load offset=2 align=1 (local.get $d)))
    (local.set $len (i32.load offset=6 align=1 (local.get $d)))
    (if (i32.eq (i32.load8_u offset=1 (local.get $d)) (i32.const 1))
      (then
        (local.set $ptr (i32.add (local.get $d) (i32.const 10)))
        (local.set $len (i32.sub (local.get $n) (i32.const 10)))))
    (call_indirect $host (type $abi) (local.get $ptr) (local.get $len)
      (i32.rem_u (local.get $idx) (table.size $host))))

  ;; The host allocates a host function's result through a hostile __zh_alloc / __zh_free.
  ;; Input: the mode (fixint): 1 out-of-bounds, 2 null, 3 trap, 4 re-enter the host,
  ;; 5 spin, 6 runs off the end of memory, 7 __zh_free traps.
  (func (export "alloc_mode") (param $in i32) (param i32) (result i64)
    (global.set $alloc_mode (i32.load8_u (local.get $in)))
    (drop (call $sys_time (i32.const 8) (i32.const 1)))
    (call $ok_nil))

  ;; -- floods ----------------------------------------------------------------------------
  (func (export "flood_sys_time") (param i32 i32) (result i64)
    (local $h i32)
    (local.set $h (global.get $heap))
    (loop $more
      (drop (call $sys_time (i32.const 8) (i32.const 1)))
      (global.set $heap (local.get $h))                         ;; free everything
      (br $more))
    unreachable)

  (func (export "flood_trace") (param i32 i32) (result i64)
    (local $h i32)
    (local.set $h (global.get $heap))
    (loop $more
      (drop (call $trace (i32.const 208) (i32.const 23)))
      (global.set $heap (local.get $h))
      (br $more))
    unreachable)

  (func (export "flood_signals") (param i32 i32) (result i64)
    (loop $more
      (drop (call $emit_signal (i32.const 240) (i32.const 3)))
      (br $more))
    unreachable)

  ;; signals of 1 MiB each
  (func (export "flood_big_signals") (param i32 i32) (result i64)
    (local $p i32)
    (local.set $p (call $alloc (i32.const 1048581)))
    (i32.store8 (local.get $p) (i32.const 0xc6))                ;; bin32 of 1 MiB
    (i32.store (i32.add (local.get $p) (i32.const 1)) (i32.const 0x00001000)) ;; BE 0x00100000
    (loop $more
      (drop (call $emit_signal (local.get $p) (i32.const 1048581)))
      (br $more))
    unreachable)

  (func (export "flood_writes") (param i32 i32) (result i64)
    (loop $more
      (drop (call $create (i32.const 256) (i32.const 23)))
      (br $more))
    unreachable)

  ;; entries of 1 MiB each, until a limit stops the call
  (func (export "flood_big_writes") (param i32 i32) (result i64)
    (local $p i32)
    (local.set $p (call $big_create_input (i32.const 1048576)))
    (loop $more
      (drop (call $create (local.get $p) (i32.const 1048601)))
      (br $more))
    unreachable)

  ;; -- re-entrance -------------------------------------------------------------------------
  (func (export "reenter_self") (param i32 i32) (result i64)
    (call $call (i32.const 48) (i32.const 66)))

  ;; use most of the wasm stack (7900 frames: about 250 of its 256 KiB), then call back into
  ;; this zome, at every depth: nested instances must not overflow the native stack
  (func $deep (param $n i32) (result i64)
    (local $a i64) (local $b i64) (local $c i64) (local $d i64)
    (if (result i64) (i32.eqz (local.get $n))
      (then (call $call (i32.const 128) (i32.const 72)))
      (else (i64.add (call $deep (i32.sub (local.get $n) (i32.const 1))) (local.get $a)))))

  (func (export "reenter_deep_stack") (param i32 i32) (result i64)
    (call $deep (i32.const 7900)))

  ;; -- a table bomb: grow a table by 2^28 entries (2 GiB of host memory) ---------------------
  (func (export "table_bomb") (param i32 i32) (result i64)
    (if (i32.eq (table.grow $scratch (ref.null func) (i32.const 0x10000000)) (i32.const -1))
      (then (return (call $ok_nil))))
    (call $pack (i32.const 24) (i32.const 10)))                 ;; grew: {"Err": "nope"}

  ;; -- a write, then a breach: nothing may be committed ------------------------------------
  ;; Input: the breach (fixint): 0 trap, 1 spin, 2 memory bomb, 3 recursion, 4 huge output,
  ;; 5 out-of-bounds output, 6 bad host pointer, 7 garbage output, 8 Err result,
  ;; 9 signal flood, 10 write flood, 11 re-entrance, 12 hostile allocator (null),
  ;; 13 big output.
  (func (export "write_then") (param $in i32) (param $in_len i32) (result i64)
    (local $mode i32) (local $p i32)
    (local.set $mode (i32.load8_u (local.get $in)))
    (drop (call $create (i32.const 256) (i32.const 23)))
    (if (i32.eq (local.get $mode) (i32.const 0)) (then unreachable))
    (if (i32.eq (local.get $mode) (i32.const 1)) (then (loop $l (br $l))))
    (if (i32.eq (local.get $mode) (i32.const 2))
      (then (drop (call $memory_bomb (i32.const 0) (i32.const 0)))))
    (if (i32.eq (local.get $mode) (i32.const 3))
      (then (drop (call $recurse (i32.const 0) (i32.const 0)))))
    (if (i32.eq (local.get $mode) (i32.const 4))
      (then (return (call $pack (i32.const 16) (i32.const -1)))))
    (if (i32.eq (local.get $mode) (i32.const 5))
      (then (return (call $pack (i32.const 0xFFFFFF00) (i32.const 1000)))))
    (if (i32.eq (local.get $mode) (i32.const 6))
      (then (drop (call $create (i32.const 0xFFFFFFF0) (i32.const 1000)))))
    (if (i32.eq (local.get $mode) (i32.const 7))
      (then (return (call $pack (i32.const 320) (i32.const 8)))))
    (if (i32.eq (local.get $mode) (i32.const 8))
      (then (return (call $pack (i32.const 24) (i32.const 10)))))
    (if (i32.eq (local.get $mode) (i32.const 9))
      (then (loop $l (drop (call $emit_signal (i32.const 240) (i32.const 3))) (br $l))))
    (if (i32.eq (local.get $mode) (i32.const 10))
      (then (loop $l (drop (call $create (i32.const 256) (i32.const 23))) (br $l))))
    (if (i32.eq (local.get $mode) (i32.const 11))
      (then (return (call $call (i32.const 48) (i32.const 66)))))
    (if (i32.eq (local.get $mode) (i32.const 12))
      (then (global.set $alloc_mode (i32.const 2))
            (drop (call $sys_time (i32.const 8) (i32.const 1)))))
    (if (i32.eq (local.get $mode) (i32.const 13))
      (then (local.set $p (call $alloc (i32.const 5242880)))
            (return (call $pack (local.get $p) (i32.const 5242880)))))
    (call $ok_nil))

  ;; -- callbacks that trap --------------------------------------------------------------
  (func $post_commit (export "post_commit") (param i32 i32) (result i64) unreachable)
  (func $recv_remote_signal (export "recv_remote_signal") (param i32 i32) (result i64)
    unreachable)
)
