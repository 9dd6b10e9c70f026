//! ticker: scheduled functions for the tests (tests/conductor/test_schedule.py); its
//! AssemblyScript twin is zomes/ticker_as. Each scheduled function writes an entry of its
//! own name when it runs, so a test counts its runs with `runs`.

use core::time::Duration;

use zomehost_sdk::prelude::*;

fn ran(name: &str, last: &Option<Schedule>) {
    let _ = create(name, last);
    let _ = emit_signal(name);
}

/// Every second, for ever.
fn tick(last: Option<Schedule>) -> Option<Schedule> {
    ran("tick", &last);
    Some(Schedule::Persisted("* * * * * *".into()))
}

/// Once.
fn once(last: Option<Schedule>) -> Option<Schedule> {
    ran("once", &last);
    None
}

/// First asks to run again in a second (ephemeral), then writes and stops.
fn later(last: Option<Schedule>) -> Option<Schedule> {
    match last {
        None => Some(Schedule::Ephemeral(Duration::from_secs(1))),
        Some(_) => {
            ran("later", &last);
            None
        }
    }
}

/// Asks to run again at once, every time: the host's minimum interval holds it back.
fn rapid(last: Option<Schedule>) -> Option<Schedule> {
    ran("rapid", &last);
    Some(Schedule::Ephemeral(Duration::ZERO))
}

/// Persisted; every run after the first spins until the call's deadline.
fn spin(last: Option<Schedule>) -> Option<Schedule> {
    if last.is_some() {
        loop {
            let _ = sys_time();
        }
    }
    ran("spin", &last);
    Some(Schedule::Persisted("* * * * * *".into()))
}

/// Panics on its first run.
fn boom(_last: Option<Schedule>) -> Option<Schedule> {
    panic!("boom went the scheduled function");
}

/// Writes, then returns a schedule that is not a cron string.
fn bad_cron(last: Option<Schedule>) -> Option<Schedule> {
    ran("bad_cron", &last);
    Some(Schedule::Persisted("every tuesday".into()))
}

/// Persisted, once a year: a schedule that stays without running.
fn yearly(_last: Option<Schedule>) -> Option<Schedule> {
    Some(Schedule::Persisted("0 0 1 1 *".into()))
}

/// Ephemeral, in an hour: gone when the conductor restarts.
fn in_an_hour(_last: Option<Schedule>) -> Option<Schedule> {
    Some(Schedule::Ephemeral(Duration::from_secs(3600)))
}

scheduled_fns!(tick, once, later, rapid, spin, boom, bad_cron, yearly, in_an_hour);

/// Schedule `name` (a function of this zome).
fn start(name: String) -> ExternResult<()> {
    schedule(&name)
}

/// Schedule `name`, then fail: the schedule goes with the call.
fn start_then_fail(name: String) -> ExternResult<()> {
    schedule(&name)?;
    Err(WasmError::guest("deliberate failure after schedule"))
}

/// How many entries of type `name` the chain holds (the runs of that scheduled function).
fn runs(name: String) -> ExternResult<u32> {
    Ok(query(ChainQueryFilter::new().entry_type(name))?.len() as u32)
}

zome_fns!(start, start_then_fail, runs);
