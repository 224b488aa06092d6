//! Container sizes (`ps -s`, `inspect -s`): the writable layer, and it plus the image.

use crate::Engine;

impl Engine {
    /// (SizeRw, SizeRootFs) of container `id` made from image `image`; 0 where unknown.
    pub fn container_sizes(&self, id: &str, image: &str) -> (i64, i64) {
        let Ok(images) = self.images() else {
            return (0, 0);
        };
        let rw = images.layers().container_size(id).unwrap_or(0) as i64;
        let img = images.get(image).map(|im| images.size(&im)).unwrap_or(0) as i64;
        (rw, rw + img)
    }
}
