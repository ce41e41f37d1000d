//! The look's data, apart from how it is loaded: the shared context ([`crate::app`])
//! holds a [`LookCache`], and this module depends on nothing of ours, so that the
//! context does not depend on the brand's loading code (which needs the context).

use std::sync::{Arc, RwLock, atomic::AtomicI64};

use templates::brand::Brand;

/// Everything the views need: the look and the words.
#[derive(Debug, Clone, Default)]
pub struct Look {
    pub brand: Brand,
    pub copy: Copy,
}

/// The saved values as the admin form shows them (raw, before defaults), so an editor
/// sees what is saved and what falls back.
#[derive(Debug, Clone, Default)]
pub struct Saved {
    pub values: Vec<(String, String)>,
}

impl Saved {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The current look, shared by every handler of a process.
#[derive(Debug, Default)]
pub struct LookCache {
    pub(super) look: RwLock<Arc<Look>>,
    pub(super) loaded_at: AtomicI64,
}

impl LookCache {
    /// What was last loaded (the stock look before the first load).
    pub fn current(&self) -> Arc<Look> {
        self.look.read().map(|l| Arc::clone(&l)).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyKey {
    Confirmation,
    Welcome,
    SignupPitch,
    Confirmed,
}

/// The Markdown of each piece, saved or default.
#[derive(Debug, Clone, Default)]
pub struct Copy {
    pub(super) texts: Vec<(CopyKey, String)>,
}
