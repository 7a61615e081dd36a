//! The invariants every scheme keeps, and each scheme's own (from its rules).

use std::collections::HashMap;

use crate::schemes::InstanceFacts;
use crate::slab_common::cache::{InstanceKind, InstanceState, KmemCache};
use crate::slab_common::info::CacheInfo;
use crate::slab_common::world::World;

impl World {
    /// Checks the invariants, returning the first violation. Every scheme:
    /// every listed instance is live (or headless), no listed instance has
    /// refcount 0 (boot caches count down from -1 and stay listed) but, before
    /// 6.12, a dynamic cache a busy final destroy left listed, every
    /// listed alias's primary is listed and is no alias, an alias shares its
    /// primary's storage, and a storage names the instance that owns it. Then
    /// the scheme's own ([`crate::schemes::SchemeRules::check_invariants`]).
    pub fn check_invariants(&self) -> Result<(), String> {
        let reg = self.core.slab_mutex.lock();
        let listed: Vec<crate::slab_common::registry::InstPtr> = reg.listed().collect();
        let listed: Vec<&KmemCache> = listed.iter().map(|p| p.get()).collect();
        let mut aliases_of: HashMap<*const KmemCache, i32> = HashMap::new();
        for &c in &listed {
            let info = CacheInfo::of(c, &reg);
            if !matches!(info.state, InstanceState::Live | InstanceState::Headless) {
                return Err(format!("{} is listed but {:?}", info.name, info.state));
            }
            // Before 6.12 a busy final destroy leaves the cache listed with
            // refcount 0 (`shutdown_cache()` fails before `list_del()`).
            if info.refcount == 0 && !(info.state == InstanceState::Live && self.core.busy_stays_listed(c)) {
                return Err(format!("{} is listed with refcount {}", info.name, info.refcount));
            }
            if c.is_alias() {
                let p = c.primary_cache().ok_or_else(|| format!("alias {} has no primary", info.name))?;
                if p.is_alias() {
                    return Err(format!("alias {} names alias {} as its primary", info.name, p.name()));
                }
                if !listed.iter().any(|&l| std::ptr::eq(l, p)) {
                    return Err(format!("alias {}'s primary {} is not listed", info.name, p.name()));
                }
                if c.storage_id() != p.storage_id() {
                    return Err(format!("alias {} does not share its primary's storage", info.name));
                }
                *aliases_of.entry(p as *const KmemCache).or_default() += 1;
            } else if let Some(storage) = c.storage()
                && !storage.primary().is_some_and(|owner| std::ptr::eq(owner, c))
            {
                return Err(format!("{}'s storage names another primary", info.name));
            }
        }
        let facts: Vec<InstanceFacts> = listed
            .iter()
            .map(|&c| {
                let is_alias = c.is_alias();
                let meta = c.meta.lock();
                InstanceFacts {
                    name: meta.name().to_owned(),
                    module_static: meta.kind == InstanceKind::ModuleStatic,
                    hidden_primary: meta.kind == InstanceKind::HiddenPrimary,
                    live: meta.state == InstanceState::Live,
                    is_alias,
                    owns_storage: !is_alias && c.storage().is_some(),
                    refcount: meta.refcount,
                    aliases: aliases_of.get(&(c as *const KmemCache)).copied().unwrap_or(0),
                }
            })
            .collect();
        drop(reg);
        self.config().scheme.rules().check_invariants(&facts)
    }
}
