//! `wait`.

use super::{finish, open_engine, NamesArgs};
use crate::{CmdResult, Global};

pub(super) fn wait(g: &Global, a: NamesArgs) -> CmdResult {
    let e = open_engine(g)?;
    let mut errors = Vec::new();
    for n in &a.containers {
        match e
            .resolve(n)
            .and_then(|id| e.wait(&id, engine::WaitCondition::NotRunning))
        {
            Ok(w) => println!("{}", w.status_code),
            Err(err) => errors.push(err.to_string()),
        }
    }
    finish(errors)
}
