//! `rename`.

use crate::{events, record, Engine, Error, Result};

impl Engine {
    pub fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        let (id, _) = self.record(id)?;
        let new = new_name.trim_start_matches('/');
        if !record::valid_name(new) {
            return Err(Error::InvalidArgument(format!(
                "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        record::reserve_name(&self.paths, new, &id)?;
        let old = record::update(&self.paths, &id, |r| {
            let old = r.short_name().to_string();
            r.name = format!("/{new}");
            Ok(old)
        });
        match old {
            Ok(old) => {
                record::release_name(&self.paths, &old, &id);
                events::container_event_with(
                    &self.paths.root,
                    &id,
                    "rename",
                    &[("oldName", format!("/{old}"))],
                );
                Ok(())
            }
            Err(e) => {
                record::release_name(&self.paths, new, &id);
                Err(e)
            }
        }
    }
}
