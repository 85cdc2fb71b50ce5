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

#[derive(Default)]
pub struct ListingCache {
    entries: Mutex<(u64, HashMap<ProductQuery, Page<Product>>)>,
}

impl ListingCache {
    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<ProductQuery, Page<Product>>)> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached page, or the generation to pass to `insert` after reading.
    pub fn get(&self, query: &ProductQuery) -> Result<Page<Product>, u64> {
        let entries = self.lock();
        entries.1.get(query).cloned().ok_or(entries.0)
    }

    pub fn insert(&self, generation: u64, query: ProductQuery, page: &Page<Product>) {
        let mut entries = self.lock();
        if entries.0 == generation {
            if entries.1.len() >= ENTRIES {
                entries.1.clear();
            }
            entries.1.insert(query, page.clone());
        }
    }

    pub fn invalidate(&self) {
        let mut entries = self.lock();
        entries.0 += 1;
        entries.1.clear();
    }
}
