;; signal_loop.wat: a remote signal storm. init grants recv_remote_signal to anyone;
;; `ping` and `recv_remote_signal` both send a remote signal to this same agent, so
;; delivery (local agents are served in-process) would recurse forever. The host must
;; bound it (nested-instance limit, per-call signal budget) and keep serving.
(module
  (type $abi (func (param i32 i32) (result i64)))
  (import "zomehost" "agent_info" (func $agent_info (type $abi)))
  (import "zomehost" "send_remote_signal" (func $send_remote_signal (type $abi)))
  (import "zomehost" "create_cap_grant" (func $create_cap_grant (type $abi)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))

  (data (i32.const 8) "\c0")
  (data (i32.const 16) "\81\a2Ok\c0")                        ;; {"Ok": nil}
  (data (i32.const 32) "\81\a2Ok\a4Pass")                    ;; {"Ok": "Pass"}, 9 bytes
  ;; {"tag": "s", "access": "Unrestricted", "functions": "All"}, 41 bytes
  (data (i32.const 64) "\83\a3tag\a1s\a6access\acUnrestricted\a9functions\a3All")
  ;; {"agents": [<39-byte key at +11>], "payload": bin(nil)}, 61 bytes
  (data (i32.const 128) "\82\a6agents\91\c4\27")
  (data (i32.const 178) "\a7payload\c4\01\c0")

  (func $alloc (export "__zh_alloc") (param $len i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get $len) (i32.const 16))
                                              (i32.const 1)))
                        (i32.const -1))
              (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "__zh_free") (param i32 i32))

  (func (export "init") (param i32 i32) (result i64)
    (drop (call $create_cap_grant (i32.const 64) (i32.const 41)))
    (i64.or (i64.shl (i64.const 32) (i64.const 32)) (i64.const 9)))

  ;; agent_info returns {"Ok": {"agent_initial_pubkey": bin(39), ...}}: the key is at +28
  (func $signal_myself (result i64)
    (local $info i32)
    (local.set $info
      (i32.wrap_i64 (i64.shr_u (call $agent_info (i32.const 8) (i32.const 1)) (i64.const 32))))
    (memory.copy (i32.const 139) (i32.add (local.get $info) (i32.const 28)) (i32.const 39))
    (drop (call $send_remote_signal (i32.const 128) (i32.const 61)))
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 5)))

  (func (export "ping") (param i32 i32) (result i64) (call $signal_myself))
  (func (export "recv_remote_signal") (param i32 i32) (result i64) (call $signal_myself))
)
