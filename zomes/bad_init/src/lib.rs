//! A zome whose `init` callback refuses: the host must refuse every call into the cell and
//! report the reason.

use zomehost_sdk::prelude::*;

fn init() -> ExternResult<InitCallbackResult> {
    Ok(InitCallbackResult::Fail("init refused by zome".to_string()))
}

fn hello() -> ExternResult<String> {
    Ok("hello".to_string())
}

zome_fns!(init, hello);
