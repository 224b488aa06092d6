//! `import`, `save` and `load` (Docker's `POST /images/create?fromSrc`, `GET /images/get`,
//! `POST /images/load`).

use crate::images::ImportRequest;
use crate::{Engine, Result};
use std::io::{Read, Write};
use std::path::Path;

impl Engine {
    /// Imports a root filesystem tar as a one-layer image; returns its ID.
    pub fn image_import(&self, tar: &mut dyn Read, req: &ImportRequest) -> Result<String> {
        let reference = req
            .reference
            .as_deref()
            .map(image::Reference::parse)
            .transpose()?;
        let opts = image::import::ImportOptions {
            changes: req.changes.clone(),
            message: req.message.clone(),
            source: "-".into(),
            reference,
            architecture: req.architecture.clone(),
        };
        Ok(image::import::import(self.images()?, tar, &opts)?)
    }

    /// Writes the images `names` as a `docker save` tar.
    pub fn image_save(&self, names: &[String], w: &mut dyn Write) -> Result<()> {
        Ok(image::archive::save(self.images()?, names, w)?)
    }

    /// Loads a `docker save` tar (or an OCI layout directory) from `path`; returns Docker's
    /// result lines ("Loaded image: busybox:latest").
    pub fn image_load_path(&self, path: &Path) -> Result<Vec<String>> {
        Ok(image::archive::load_path(self.images()?, path)?)
    }

    /// [`Engine::image_load_path`] from a stream.
    pub fn image_load(&self, r: &mut dyn Read) -> Result<Vec<String>> {
        Ok(image::archive::load_stream(self.images()?, r)?)
    }
}
