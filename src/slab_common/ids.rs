//! Identities of registered instances and loaded modules.

slotmap::new_key_type! {
    /// A registered cache instance (generational: a stale id finds nothing).
    pub struct CacheId;
    /// A loaded module.
    pub struct ModuleId;
}
