//! Exporting zome functions and callbacks (docs/abi.md, "Calling a zome function").

use core::fmt::Display;

use serde::de::DeserializeOwned;
use serde::ser::Serialize;
use serde_derive::Serialize;

use crate::mem;

/// The result envelope a zome function returns: `{"Ok": value}` or `{"Err": message}`.
#[derive(Serialize)]
enum Envelope<'a, T: Serialize> {
    Ok(&'a T),
    Err(&'a str),
}

fn err_envelope(msg: &str) -> Vec<u8> {
    rmp_serde::to_vec_named(&Envelope::<()>::Err(msg)).unwrap_or_else(|_| {
        // {"Err": "envelope"} written by hand: cannot fail.
        let mut v = vec![0x81, 0xa3, b'E', b'r', b'r', 0xa8];
        v.extend_from_slice(b"envelope");
        v
    })
}

fn encode_result<O: Serialize, E: Display>(result: Result<O, E>) -> Vec<u8> {
    match result {
        Ok(value) => match rmp_serde::to_vec_named(&Envelope::Ok(&value)) {
            Ok(bytes) => bytes,
            Err(e) => err_envelope(&format!("SerializeError: output could not be encoded: {}", e)),
        },
        Err(e) => err_envelope(&e.to_string()),
    }
}

/// A Rust function usable as a zome function: `fn() -> Result<O, E>` (the input is ignored)
/// or `fn(I) -> Result<O, E>` (the input is decoded as `I`), with `O: Serialize` and
/// `E: Display` (e.g. `String` or `WasmError`).
pub trait ZomeFn<Args> {
    fn invoke(self, name: &str, input: &[u8]) -> Vec<u8>;
}

impl<F, O, E> ZomeFn<()> for F
where
    F: FnOnce() -> Result<O, E>,
    O: Serialize,
    E: Display,
{
    fn invoke(self, _name: &str, _input: &[u8]) -> Vec<u8> {
        encode_result(self())
    }
}

impl<F, I, O, E> ZomeFn<(I,)> for F
where
    F: FnOnce(I) -> Result<O, E>,
    I: DeserializeOwned,
    O: Serialize,
    E: Display,
{
    fn invoke(self, name: &str, input: &[u8]) -> Vec<u8> {
        match crate::decode::<I>(input) {
            Ok(value) => encode_result(self(value)),
            Err(e) => err_envelope(&format!(
                "DeserializeError: input of {} could not be decoded: {}",
                name, e.message
            )),
        }
    }
}

/// The body of every exported zome function: take the input block, run `f`, hand the
/// envelope back. Used by the export macros.
#[doc(hidden)]
pub fn run<A, F: ZomeFn<A>>(name: &str, ptr: i32, len: i32, f: F) -> i64 {
    crate::install_panic_hook();
    // SAFETY: the host wrote the input into a block from `__zh_alloc(len)`; we own it.
    let input = unsafe { mem::take(ptr, len) };
    let out = f.invoke(name, &input);
    drop(input);
    mem::give(out)
}

/// Export functions as zome functions under their own names.
///
/// Each function takes no argument or one argument (`I: Deserialize`) and returns
/// `Result<O, E>` with `O: Serialize`, `E: Display` (`ExternResult<O>` or `Result<O, String>`).
///
/// ```ignore
/// fn echo(s: String) -> ExternResult<String> { Ok(s) }
/// fn now() -> ExternResult<i64> { sys_time() }
/// zome_fns!(echo, now);
/// ```
///
/// The callbacks are exported the same way, by their ABI names (`init`, `post_commit`,
/// `recv_remote_signal`), or with [`init_callback!`], [`post_commit_callback!`],
/// [`recv_remote_signal_callback!`] for functions of other names.
#[macro_export]
macro_rules! zome_fns {
    ($($name:ident),* $(,)?) => {
        $(
            const _: () = {
                #[no_mangle]
                pub extern "C" fn $name(ptr: i32, len: i32) -> i64 {
                    // `self::` is the enclosing module: the author's function, not this one.
                    $crate::export::run(stringify!($name), ptr, len, self::$name)
                }
            };
        )*
    };
}

/// Export one function under an explicit export name: `zome_fn_as!("list" => list_notes);`
#[macro_export]
macro_rules! zome_fn_as {
    ($export:literal => $f:path) => {
        const _: () = {
            #[export_name = $export]
            pub extern "C" fn __zh_export(ptr: i32, len: i32) -> i64 {
                $crate::export::run($export, ptr, len, $f)
            }
        };
    };
}

/// Export `f: fn() -> ExternResult<InitCallbackResult>` as the `init` callback.
#[macro_export]
macro_rules! init_callback {
    ($f:path) => {
        $crate::zome_fn_as!("init" => $f);
    };
}

/// Export `f: fn(Vec<Record>) -> ExternResult<()>` as the `post_commit` callback.
#[macro_export]
macro_rules! post_commit_callback {
    ($f:path) => {
        $crate::zome_fn_as!("post_commit" => $f);
    };
}

/// Export `f: fn(Bytes) -> ExternResult<()>` as the `recv_remote_signal` callback; the
/// `Bytes` are the msgpack bytes the sender passed (`payload.decode::<T>()`).
#[macro_export]
macro_rules! recv_remote_signal_callback {
    ($f:path) => {
        $crate::zome_fn_as!("recv_remote_signal" => $f);
    };
}
