//! Product listings already read, by query, so repeated catalog pages cost
//! no query. Each product write bumps the generation and empties the cache;
//! a read that raced a write (the generation moved while it ran) is not
//! cached, so a listing is never older than the last write this process saw.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::domain::{Product, ProductQuery};
use crate::store::Page;

/// Distinct listings kept; past this the cache starts over.
const ENTRIES: usize = 512;

pub struct ListingCache {
    entries: Mutex<Entries>,
}

struct Entries {
    generation: u64,
    pages: HashMap<ProductQuery, Page<Product>>,
    /// Off while nothing would tell this process that another one changed
    /// products (an instance that does not read the cluster's `products`
    /// stream): every listing is read then.
    enabled: bool,
}

impl Default for ListingCache {
    fn default() -> Self {
        ListingCache {
            entries: Mutex::new(Entries {
                generation: 0,
                pages: HashMap::new(),
                enabled: true,
            }),
        }
    }
}

impl ListingCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached page, or the generation to pass to `insert` after reading.
    pub fn get(&self, query: &ProductQuery) -> Result<Page<Product>, u64> {
        let entries = self.lock();
        entries.pages.get(query).cloned().ok_or(entries.generation)
    }

    pub fn insert(&self, generation: u64, query: ProductQuery, page: &Page<Product>) {
        let mut entries = self.lock();
        if entries.enabled && entries.generation == generation {
            if entries.pages.len() >= ENTRIES {
                entries.pages.clear();
            }
            entries.pages.insert(query, page.clone());
        }
    }

    pub fn invalidate(&self) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.pages.clear();
    }

    /// Empties the cache, and keeps it (`keep`) or not from now on.
    pub fn set_enabled(&self, keep: bool) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.pages.clear();
        entries.enabled = keep;
    }
}
