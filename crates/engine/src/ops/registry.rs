//! `pull`, `push`, `login` and `logout`, reporting progress as typed events.

use crate::images::{
    LoginRequest, ProgressEvent, PullRequest, PullResult, PushRequest, RegistrySettings,
};
use crate::{Engine, Error, Result};

fn options(s: &RegistrySettings) -> registry::RegistryOptions {
    registry::RegistryOptions {
        insecure_registries: s.insecure_registries.clone(),
        docker_config: None,
    }
}

impl Engine {
    /// Pulls an image (or with `all_tags` every tag of a repository); reports progress to
    /// `on`; returns one result per image.
    pub fn pull(
        &self,
        req: &PullRequest,
        on: &mut (dyn FnMut(ProgressEvent) + Send),
    ) -> Result<Vec<PullResult>> {
        let opts = registry::PullOptions {
            reference: req.reference.clone(),
            platform: req.platform.clone(),
            all_tags: req.all_tags,
            registry: options(&req.registry),
            max_concurrent_downloads: 0,
        };
        let progress = registry::Progress::events(req.quiet, |e| on(e.into()));
        let res = registry::pull(self.images()?, &opts, &progress)?;
        Ok(res
            .into_iter()
            .map(|r| PullResult {
                reference: r.reference,
                image_id: r.image_id,
                digest: r.digest,
                downloaded: r.downloaded,
            })
            .collect())
    }

    /// Pushes a local image (with `all_tags`, every tag of the repository `reference`);
    /// reports progress to `on`.
    pub fn push(
        &self,
        req: &PushRequest,
        on: &mut (dyn FnMut(ProgressEvent) + Send),
    ) -> Result<()> {
        let store = self.images()?;
        let mut refs = vec![req.reference.clone()];
        if req.all_tags {
            let r = image::Reference::parse_normalized(&req.reference)?;
            if r.tag.is_some() || r.digest.is_some() {
                return Err(Error::InvalidArgument(
                    "tag can't be used with --all-tags/-a".into(),
                ));
            }
            let name = r.familiar_name();
            refs = store
                .images()?
                .iter()
                .flat_map(|img| img.tags.iter())
                .filter(|t| t.familiar_name() == name)
                .map(|t| t.familiar_string())
                .collect();
            refs.sort();
            if refs.is_empty() {
                return Err(Error::NoSuchImage(format!(
                    "An image does not exist locally with the tag: {name}"
                )));
            }
        }
        let progress = registry::Progress::events(req.quiet, |e| on(e.into()));
        for reference in refs {
            let opts = registry::PushOptions {
                reference,
                registry: options(&req.registry),
                max_concurrent_uploads: 0,
                chunk_size: 0,
            };
            registry::push(store, &opts, &progress)?;
        }
        Ok(())
    }
}

/// Verifies the credentials against the registry, then stores them; returns Docker's message
/// ("Login Succeeded").
pub fn login(req: &LoginRequest) -> Result<String> {
    Ok(registry::login(&registry::LoginOptions {
        server: req.server.clone(),
        username: req.username.clone(),
        password: req.password.clone(),
        registry: options(&req.registry),
    })?)
}

/// Removes the stored credentials of `server` (None: Docker Hub); returns Docker's message.
pub fn logout(server: Option<&str>, settings: &RegistrySettings) -> Result<String> {
    Ok(registry::logout(server, &options(settings))?)
}
