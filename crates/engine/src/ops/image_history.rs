//! `history` (Docker's `GET /images/NAME/history`).

use crate::images::{HistoryItem, ImageHistory};
use crate::{Engine, Result};

impl Engine {
    /// Image `name`'s history entries, oldest first, each with the size of its layer.
    pub fn image_history(&self, name: &str) -> Result<ImageHistory> {
        let store = self.images()?;
        let id = store.resolve(name)?;
        let img = store.get(&id)?;
        let sizes = store.layer_sizes(&img);
        let mut layer = 0;
        let mut items = Vec::new();
        for h in &img.config.history {
            let size = if h.empty_layer {
                0
            } else {
                layer += 1;
                sizes.get(layer - 1).copied().unwrap_or(0)
            };
            items.push(HistoryItem {
                created: h
                    .created
                    .as_deref()
                    .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                    .map(|t| t.timestamp())
                    .unwrap_or(0),
                created_by: h.created_by.clone(),
                comment: h.comment.clone(),
                size,
                empty_layer: h.empty_layer,
            });
        }
        Ok(ImageHistory { id: img.id, items })
    }
}
