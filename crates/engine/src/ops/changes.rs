//! `diff`.

use crate::{Change, Engine, Result};

impl Engine {
    pub fn changes(&self, id: &str) -> Result<Vec<Change>> {
        let (id, _) = self.record(id)?;
        Ok(self.images()?.layers().changes(&id)?)
    }
}
