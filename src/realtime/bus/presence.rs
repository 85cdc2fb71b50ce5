//! Cluster presence: which chat users are online on which instance.
//!
//! Each instance keeps its online users in a Redis set
//! (`<prefix>:{control}:presence:<instance>:users`) next to a version key,
//! and its name in a registry of live instances scored by when it expires
//! unless refreshed, so a dead instance is noticed within
//! `redis.presence_ttl_s`. Changes are published with the version; a
//! receiver that sees a gap, or a new instance, reads the whole set. An
//! instance whose version key expired (it died) is forgotten and its users
//! announced as left. This module keeps that state and builds the Redis
//! commands; the bus runs them and moves the messages.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use redis::{AsyncCommands, Cmd};

use super::wire::Keys;
use crate::cluster::connection::RedisConnection;
use crate::domain::Email;
use crate::realtime::events::RemotePresence;

/// What another instance's presence looks like from here.
#[derive(Default)]
struct RemoteInstance {
    version: u64,
    users: HashSet<Email>,
    /// A change was missed: read the whole set again.
    stale: bool,
    /// Scans started before this one was first heard of cannot tell
    /// whether it is alive.
    first_scan: u64,
}

pub struct ClusterPresence {
    keys: Keys,
    ttl: Duration,
    /// This instance's online chat users, as published.
    local_users: HashSet<Email>,
    version: u64,
    remote: HashMap<String, RemoteInstance>,
    /// Scans of live instances started so far.
    scans: u64,
}

/// A whole presence set read from Redis.
pub struct PresenceSet {
    pub instance: String,
    pub version: u64,
    pub users: Vec<Email>,
}

fn change(joined: Vec<Email>, left: Vec<Email>) -> Option<RemotePresence> {
    (!joined.is_empty() || !left.is_empty()).then_some(RemotePresence { joined, left })
}

impl ClusterPresence {
    pub fn new(keys: Keys, ttl: Duration) -> ClusterPresence {
        ClusterPresence {
            keys,
            ttl,
            local_users: HashSet::new(),
            version: 0,
            remote: HashMap::new(),
            scans: 0,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How often the instance refreshes its presence keys and scans for
    /// instances that came or went.
    pub fn refresh_every(&self) -> Duration {
        self.ttl / 5
    }

    /// How long the presence keys live unrefreshed: a dead instance's key
    /// expires, and the next scan sees it gone, within `presence_ttl_s`
    /// (a live one would have to miss four refreshes in a row).
    fn key_expiry_ms(&self) -> u64 {
        u64::try_from((self.ttl - self.refresh_every()).as_millis()).unwrap_or(u64::MAX)
    }

    /// This instance's users changed: the new version and who joined and
    /// left, if anyone did.
    pub fn local_changed(&mut self, changes: Vec<(Email, bool)>) -> Option<(u64, Vec<Email>, Vec<Email>)> {
        let mut joined = Vec::new();
        let mut left = Vec::new();
        for (user, online) in changes {
            if online && self.local_users.insert(user.clone()) {
                joined.push(user);
            } else if !online && self.local_users.remove(&user) {
                left.push(user);
            }
        }
        if joined.is_empty() && left.is_empty() {
            return None;
        }
        self.version += 1;
        Some((self.version, joined, left))
    }

    /// The commands that apply a local change to this instance's set.
    pub fn change_commands(&self, joined: &[Email], left: &[Email]) -> Vec<Cmd> {
        let users_key = self.keys.users_of(&self.keys.instance);
        let mut commands = Vec::new();
        if !joined.is_empty() {
            let names: Vec<&str> = joined.iter().map(Email::as_str).collect();
            commands.push(redis::cmd("SADD").arg(&users_key).arg(names).to_owned());
        }
        if !left.is_empty() {
            let names: Vec<&str> = left.iter().map(Email::as_str).collect();
            commands.push(redis::cmd("SREM").arg(&users_key).arg(names).to_owned());
        }
        commands.extend(self.keep_alive());
        commands
    }

    /// The commands that write this instance's whole presence (after
    /// linking: Redis may have restarted empty, and changes made while
    /// unlinked were not published).
    pub fn write_all(&mut self) -> Vec<Cmd> {
        self.version += 1;
        let users_key = self.keys.users_of(&self.keys.instance);
        let mut commands = vec![redis::cmd("DEL").arg(&users_key).to_owned()];
        let users: Vec<&str> = self.local_users.iter().map(Email::as_str).collect();
        for chunk in users.chunks(1000) {
            commands.push(redis::cmd("SADD").arg(&users_key).arg(chunk).to_owned());
        }
        commands.extend(self.keep_alive());
        commands
    }

    /// Sets this instance's presence version, gives both its keys a new
    /// expiry, renews its place in the registry and drops the expired.
    pub fn keep_alive(&self) -> Vec<Cmd> {
        let me = &self.keys.instance;
        let expiry = self.key_expiry_ms();
        let now = now_ms();
        vec![
            redis::cmd("PEXPIRE")
                .arg(self.keys.users_of(me))
                .arg(expiry)
                .to_owned(),
            redis::cmd("SET")
                .arg(self.keys.version_of(me))
                .arg(self.version)
                .arg("PX")
                .arg(expiry)
                .to_owned(),
            redis::cmd("ZADD")
                .arg(self.keys.instances())
                .arg(now.saturating_add(expiry))
                .arg(me)
                .to_owned(),
            redis::cmd("ZREMRANGEBYSCORE")
                .arg(self.keys.instances())
                .arg("-inf")
                .arg(now)
                .to_owned(),
            // Gone with the last instance.
            redis::cmd("PEXPIRE")
                .arg(self.keys.instances())
                .arg(expiry)
                .to_owned(),
        ]
    }

    fn instance_entry(&mut self, instance: String) -> &mut RemoteInstance {
        let scans = self.scans;
        self.remote.entry(instance).or_insert_with(|| RemoteInstance {
            first_scan: scans,
            ..RemoteInstance::default()
        })
    }

    /// Another instance published a change. Returns what the room must
    /// hear, and whether the instance's whole set must be read (a gap, or
    /// an instance not seen before).
    pub fn remote_changed(
        &mut self,
        from: String,
        version: u64,
        joined: Vec<Email>,
        left: Vec<Email>,
    ) -> (Option<RemotePresence>, bool) {
        let known = self.remote.contains_key(&from);
        let remote = self.instance_entry(from);
        if known && version <= remote.version {
            return (None, false); // already in a set read since
        }
        if !known || version != remote.version + 1 {
            remote.stale = true;
        }
        remote.version = version;
        let joined: Vec<Email> = joined
            .into_iter()
            .filter(|user| remote.users.insert(user.clone()))
            .collect();
        let left: Vec<Email> = left
            .into_iter()
            .filter(|user| remote.users.remove(user))
            .collect();
        let stale = remote.stale;
        (change(joined, left), stale)
    }

    /// Another instance resynchronised: its set must be read again.
    pub fn mark_stale(&mut self, instance: &str) {
        if let Some(remote) = self.remote.get_mut(instance) {
            remote.stale = true;
        }
    }

    /// Every known instance must be read again (this one was unlinked).
    pub fn mark_all_stale(&mut self) -> Vec<String> {
        for remote in self.remote.values_mut() {
            remote.stale = true;
        }
        self.remote.keys().cloned().collect()
    }

    /// A whole set was read.
    pub fn set_read(&mut self, read: PresenceSet) -> Option<RemotePresence> {
        let remote = self.instance_entry(read.instance);
        if read.version < remote.version {
            return None; // older than changes applied since; still stale, read again later
        }
        let users: HashSet<Email> = read.users.into_iter().collect();
        let joined: Vec<Email> = users.difference(&remote.users).cloned().collect();
        let left: Vec<Email> = remote.users.difference(&users).cloned().collect();
        remote.users = users;
        remote.version = read.version;
        remote.stale = false;
        change(joined, left)
    }

    /// Starts a scan for live instances; its number.
    pub fn start_scan(&mut self) -> u64 {
        self.scans += 1;
        self.scans
    }

    /// The instances live at scan `scan`: forgets those gone (their users
    /// left) and returns the change and the instances to read.
    pub fn scanned(&mut self, scan: u64, live: HashSet<String>) -> (Option<RemotePresence>, Vec<String>) {
        let gone: Vec<String> = self
            .remote
            .iter()
            .filter(|(instance, remote)| remote.first_scan < scan && !live.contains(*instance))
            .map(|(instance, _)| instance.clone())
            .collect();
        let left = gone.iter().flat_map(|instance| self.forget(instance)).collect();
        let to_read = live
            .into_iter()
            .filter(|instance| self.remote.get(instance).is_none_or(|remote| remote.stale))
            .collect();
        (change(Vec::new(), left), to_read)
    }

    /// Forgets every other instance (Redis has been away for the whole
    /// expiry: theirs would have dropped ours by then too).
    pub fn forget_all(&mut self) -> Option<RemotePresence> {
        let instances: Vec<String> = self.remote.keys().cloned().collect();
        let left = instances
            .iter()
            .flat_map(|instance| self.forget(instance))
            .collect();
        change(Vec::new(), left)
    }

    fn forget(&mut self, instance: &str) -> Vec<Email> {
        match self.remote.remove(instance) {
            Some(gone) => {
                log::info!(
                    "cluster: instance {instance} is gone ({} users left)",
                    gone.users.len()
                );
                gone.users.into_iter().collect()
            }
            None => Vec::new(),
        }
    }
}

/// Reads whole presence sets (and their versions) of `instances`.
pub async fn read_sets(mut reader: RedisConnection, keys: Keys, instances: Vec<String>) -> Vec<PresenceSet> {
    let mut sets = Vec::new();
    for instance in instances {
        let read: redis::RedisResult<(Vec<String>, Option<u64>)> = redis::pipe()
            .smembers(keys.users_of(&instance))
            .get(keys.version_of(&instance))
            .query_async(&mut reader)
            .await;
        match read {
            Ok((users, Some(version))) => sets.push(PresenceSet {
                instance,
                version,
                users: users
                    .iter()
                    .filter_map(|user| Email::parse("user", user).ok())
                    .collect(),
            }),
            Ok((_, None)) => {} // gone; the next scan notices
            Err(error) => log::warn!("cluster: cannot read the presence of {instance}: {error}"),
        }
    }
    sets
}

/// Milliseconds since the epoch: registry scores. Instances compare their
/// clocks through it, which is fine while they disagree by far less than
/// the presence expiry (NTP keeps them within milliseconds).
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// The other instances registered and not expired now.
pub async fn live_instances(mut reader: RedisConnection, keys: Keys) -> redis::RedisResult<HashSet<String>> {
    let live: Vec<String> = reader.zrangebyscore(keys.instances(), now_ms(), "+inf").await?;
    Ok(live
        .into_iter()
        .filter(|instance| *instance != keys.instance)
        .collect())
}
