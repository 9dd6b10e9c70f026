//! Scheduled functions (docs/abi.md, "Scheduled functions"): a zome function the conductor
//! runs later or periodically, as the cell's author, under the same limits as any call.
//!
//! A scheduled function is `fn(Option<Schedule>) -> Option<Schedule>`: it gets what it
//! returned last time (`None` on its first run) and returns when to run next —
//! `Schedule::Persisted(cron)` (survives restarts and failed runs),
//! `Schedule::Ephemeral(duration)` (once, after that long; gone on restart or failure), or
//! `None` (no more runs). Export it with [`scheduled_fns!`](crate::scheduled_fns), then
//! start it from any call of the same zome with [`schedule`].
//!
//! ```ignore
//! fn tick(_last: Option<Schedule>) -> Option<Schedule> {
//!     let _ = create("tick", &sys_time().unwrap_or(0));
//!     Some(Schedule::Persisted("*/10 * * * * *".into())) // every 10 seconds
//! }
//! fn start(_: ()) -> ExternResult<()> { schedule("tick") }
//! scheduled_fns!(tick);
//! zome_fns!(start);
//! ```

use core::convert::Infallible;
use core::time::Duration;

use serde_derive::{Deserialize, Serialize};

use crate::host::host_call;
use crate::ExternResult;

/// The raw import of this module (see `host::raw` for the calling convention).
pub mod raw {
    #[link(wasm_import_module = "zomehost")]
    extern "C" {
        pub fn schedule(ptr: i32, len: i32) -> i64;
    }
}

/// When a scheduled function runs next (Holochain's `Schedule`, the same msgpack shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    /// A cron string, UTC: five fields (minute first) or six/seven (seconds first, then an
    /// optional year), e.g. `"*/5 * * * * *"` (every five seconds).
    Persisted(String),
    /// Once, this long from now (not kept across a restart).
    Ephemeral(Duration),
}

/// Schedule `scheduled_fn`, a function of this zome exported with
/// [`scheduled_fns!`](crate::scheduled_fns): it first runs soon after this call commits
/// (with `None`). A function already scheduled keeps its schedule. Errors: `NotFound` (no
/// such function), `InvalidInput` (not schedulable), `LimitExceeded` (the cell has 16).
pub fn schedule(scheduled_fn: &str) -> ExternResult<()> {
    host_call(raw::schedule, &scheduled_fn)
}

/// The body of an exported scheduled function. Used by [`scheduled_fns!`](crate::scheduled_fns).
#[doc(hidden)]
pub fn run(name: &str, ptr: i32, len: i32, f: fn(Option<Schedule>) -> Option<Schedule>) -> i64 {
    crate::export::run(name, ptr, len, move |last: Option<Schedule>| {
        Ok::<_, Infallible>(f(last))
    })
}

/// Export functions `fn(Option<Schedule>) -> Option<Schedule>` as schedulable zome
/// functions under their own names (each also gets the `__zh_schedulable_<name>` marker
/// export that lets [`schedule`] accept it).
#[macro_export]
macro_rules! scheduled_fns {
    ($($name:ident),* $(,)?) => {
        $(
            const _: () = {
                #[no_mangle]
                pub extern "C" fn $name(ptr: i32, len: i32) -> i64 {
                    $crate::schedule::run(stringify!($name), ptr, len, self::$name)
                }
                #[export_name = concat!("__zh_schedulable_", stringify!($name))]
                pub extern "C" fn __zh_schedulable() {}
            };
        )*
    };
}
