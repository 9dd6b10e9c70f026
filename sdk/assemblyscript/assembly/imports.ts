// The raw host imports: one per row of the host function table in docs/abi.md, all from
// module "zomehost" with the shape (ptr: i32, len: i32) -> i64.
//
// The guest passes msgpack input it keeps owning; the host returns (ptr << 32) | len of a
// result envelope {"Ok": value} | {"Err": {"kind", "message"}} that it allocated with
// __zh_alloc and that the guest now owns. Prefer the typed wrappers in hostfns.ts (or
// callHostBytes in abi.ts); these are here for tests of the host's pointer checks.
//
// Local names equal the import names, except `delete` (a keyword): `delete_`.
// AssemblyScript only emits the imports a module actually calls.

@external("zomehost", "agent_info")
export declare function agent_info(ptr: usize, len: usize): u64;

@external("zomehost", "dna_info")
export declare function dna_info(ptr: usize, len: usize): u64;

@external("zomehost", "zome_info")
export declare function zome_info(ptr: usize, len: usize): u64;

@external("zomehost", "call_info")
export declare function call_info(ptr: usize, len: usize): u64;

@external("zomehost", "create")
export declare function create(ptr: usize, len: usize): u64;

@external("zomehost", "get")
export declare function get(ptr: usize, len: usize): u64;

@external("zomehost", "update")
export declare function update(ptr: usize, len: usize): u64;

@external("zomehost", "delete")
export declare function delete_(ptr: usize, len: usize): u64;

@external("zomehost", "query")
export declare function query(ptr: usize, len: usize): u64;

@external("zomehost", "random_bytes")
export declare function random_bytes(ptr: usize, len: usize): u64;

@external("zomehost", "sys_time")
export declare function sys_time(ptr: usize, len: usize): u64;

@external("zomehost", "sign")
export declare function sign(ptr: usize, len: usize): u64;

@external("zomehost", "verify_signature")
export declare function verify_signature(ptr: usize, len: usize): u64;

@external("zomehost", "trace")
export declare function trace(ptr: usize, len: usize): u64;

@external("zomehost", "emit_signal")
export declare function emit_signal(ptr: usize, len: usize): u64;

@external("zomehost", "call")
export declare function call(ptr: usize, len: usize): u64;

@external("zomehost", "call_remote")
export declare function call_remote(ptr: usize, len: usize): u64;

@external("zomehost", "send_remote_signal")
export declare function send_remote_signal(ptr: usize, len: usize): u64;

@external("zomehost", "generate_cap_secret")
export declare function generate_cap_secret(ptr: usize, len: usize): u64;

@external("zomehost", "create_cap_grant")
export declare function create_cap_grant(ptr: usize, len: usize): u64;

@external("zomehost", "update_cap_grant")
export declare function update_cap_grant(ptr: usize, len: usize): u64;

@external("zomehost", "delete_cap_grant")
export declare function delete_cap_grant(ptr: usize, len: usize): u64;

@external("zomehost", "create_cap_claim")
export declare function create_cap_claim(ptr: usize, len: usize): u64;

@external("zomehost", "capability_grants")
export declare function capability_grants(ptr: usize, len: usize): u64;

@external("zomehost", "capability_claims")
export declare function capability_claims(ptr: usize, len: usize): u64;

@external("zomehost", "hash_entry")
export declare function hash_entry(ptr: usize, len: usize): u64;

@external("zomehost", "hash_action")
export declare function hash_action(ptr: usize, len: usize): u64;

@external("zomehost", "hash_blake2b")
export declare function hash_blake2b(ptr: usize, len: usize): u64;

@external("zomehost", "box_encrypt")
export declare function box_encrypt(ptr: usize, len: usize): u64;

@external("zomehost", "box_decrypt")
export declare function box_decrypt(ptr: usize, len: usize): u64;

@external("zomehost", "secretbox_encrypt")
export declare function secretbox_encrypt(ptr: usize, len: usize): u64;

@external("zomehost", "secretbox_decrypt")
export declare function secretbox_decrypt(ptr: usize, len: usize): u64;

@external("zomehost", "schedule")
export declare function schedule(ptr: usize, len: usize): u64;

@external("zomehost", "create_clone_cell")
export declare function create_clone_cell(ptr: usize, len: usize): u64;

@external("zomehost", "disable_clone_cell")
export declare function disable_clone_cell(ptr: usize, len: usize): u64;

@external("zomehost", "enable_clone_cell")
export declare function enable_clone_cell(ptr: usize, len: usize): u64;

@external("zomehost", "delete_clone_cell")
export declare function delete_clone_cell(ptr: usize, len: usize): u64;
