//! `tag` (Docker's `POST /images/NAME/tag`).

use crate::{Engine, Error, Result};

impl Engine {
    /// Tags image `source` (reference or ID) as `target` (`repo[:tag]`).
    pub fn image_tag(&self, source: &str, target: &str) -> Result<()> {
        let target = image::Reference::parse(target)?;
        if target.digest.is_some() {
            return Err(Error::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let store = self.images()?;
        let id = store.resolve(source)?;
        store.tag(&id, &target)?;
        Ok(())
    }
}
