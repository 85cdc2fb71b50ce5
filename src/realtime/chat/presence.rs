//! Who is online in the chat, here and on other instances, and what the
//! room last announced about it.
//!
//! - Presence is per user, not per tab: a user is online with their first
//!   session and offline with their last (however it ends).
//! - Changes are collected until the room flushes them as one shared
//!   `presence:diff` frame (coalescing: a storm of N joins costs O(N)
//!   frames per window, not one per join per member).
//! - Users online on other instances are counted per instance listing
//!   them, and those not online here are counted apart, so the number of
//!   everyone online costs nothing to read.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::room_event;
use crate::domain::Email;
use crate::realtime::outbound::SessionId;
use crate::realtime::protocol::Frame;

pub struct Presence {
    /// Longest list of e-mails in one frame (the count is always exact).
    list_max: usize,
    /// Each online user's sessions (tabs) on this instance.
    tabs: HashMap<Email, Vec<SessionId>>,
    /// Users online on other instances: how many instances list each.
    remote: HashMap<Email, u32>,
    /// How many of those are not online here.
    remote_only: usize,
    /// Who the room last announced as online.
    announced: HashSet<Email>,
    /// Users whose state may have changed since the last diff.
    changed: HashSet<Email>,
    /// Users whose sessions on this instance came or went since the last
    /// flush (for the other instances).
    changed_here: HashSet<Email>,
    /// The `presence` frame for joiners, valid until membership changes.
    snapshot: Option<Frame>,
}

#[derive(Serialize)]
struct PresenceSnapshot<'a> {
    users: Vec<&'a Email>,
    online: usize,
}

#[derive(Serialize)]
struct PresenceDiff<'a> {
    joined: &'a [&'a Email],
    left: &'a [&'a Email],
    online: usize,
}

impl Presence {
    pub fn new(list_max: usize) -> Presence {
        Presence {
            list_max,
            tabs: HashMap::new(),
            remote: HashMap::new(),
            remote_only: 0,
            announced: HashSet::new(),
            changed: HashSet::new(),
            changed_here: HashSet::new(),
            snapshot: None,
        }
    }

    /// A session of `user` joined on this instance.
    pub fn tab_opened(&mut self, user: &Email, id: SessionId) {
        let sessions = self.tabs.entry(user.clone()).or_default();
        sessions.push(id);
        if sessions.len() == 1 {
            if self.remote.contains_key(user) {
                self.remote_only = self.remote_only.saturating_sub(1);
            }
            self.user_changed(user, true);
        }
    }

    /// A session of `user` on this instance left.
    pub fn tab_closed(&mut self, user: &Email, id: SessionId) {
        let Some(sessions) = self.tabs.get_mut(user) else {
            return;
        };
        sessions.retain(|session| *session != id);
        if sessions.is_empty() {
            self.tabs.remove(user);
            if self.remote.contains_key(user) {
                self.remote_only += 1;
            }
            self.user_changed(user, true);
        }
    }

    fn user_changed(&mut self, user: &Email, here: bool) {
        self.snapshot = None;
        self.changed.insert(user.clone());
        if here {
            self.changed_here.insert(user.clone());
        }
    }

    /// The sessions of `user` on this instance.
    pub fn tabs_of(&self, user: &Email) -> &[SessionId] {
        self.tabs.get(user).map(Vec::as_slice).unwrap_or_default()
    }

    /// Users came online or went offline on another instance.
    pub fn remote_changed(&mut self, joined: Vec<Email>, left: Vec<Email>) {
        for user in joined {
            let instances = self.remote.entry(user.clone()).or_default();
            *instances += 1;
            if *instances == 1 && !self.tabs.contains_key(&user) {
                self.remote_only += 1;
            }
            self.user_changed(&user, false);
        }
        for user in left {
            if let Some(instances) = self.remote.get_mut(&user) {
                *instances -= 1;
                if *instances == 0 {
                    self.remote.remove(&user);
                    if !self.tabs.contains_key(&user) {
                        self.remote_only = self.remote_only.saturating_sub(1);
                    }
                }
            }
            self.user_changed(&user, false);
        }
    }

    /// Something changed since the last diff.
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }

    /// Whether `user` is online here or on another instance.
    fn is_online(&self, user: &Email) -> bool {
        self.tabs.contains_key(user) || self.remote.contains_key(user)
    }

    /// How many users are online, here or on another instance.
    pub fn online_count(&self) -> usize {
        self.tabs.len() + self.remote_only
    }

    /// Everyone online, here or on another instance, each once.
    fn online_users(&self) -> impl Iterator<Item = &Email> {
        let tabs = &self.tabs;
        tabs.keys()
            .chain(self.remote.keys().filter(move |user| !tabs.contains_key(*user)))
    }

    /// What changed on this instance since last asked: `(user, online
    /// here)`, for the other instances.
    pub fn take_local_changes(&mut self) -> Vec<(Email, bool)> {
        std::mem::take(&mut self.changed_here)
            .into_iter()
            .map(|user| {
                let online = self.tabs.contains_key(&user);
                (user, online)
            })
            .collect()
    }

    /// The `presence:diff` for everything that changed since the last one;
    /// `None` when nothing visible did (e.g. a reload: left and came back).
    pub fn take_diff(&mut self) -> Option<Frame> {
        let mut joined = Vec::new();
        let mut left = Vec::new();
        for user in std::mem::take(&mut self.changed) {
            let online = self.is_online(&user);
            if online && self.announced.insert(user.clone()) {
                joined.push(user);
            } else if !online && self.announced.remove(&user) {
                left.push(user);
            }
        }
        if joined.is_empty() && left.is_empty() {
            return None;
        }
        joined.sort();
        left.sort();
        let joined: Vec<&Email> = joined.iter().take(self.list_max).collect();
        let left: Vec<&Email> = left.iter().take(self.list_max).collect();
        Some(room_event(
            "presence:diff",
            &PresenceDiff {
                joined: &joined,
                left: &left,
                online: self.online_count(),
            },
        ))
    }

    /// The `presence` frame a joiner gets: everyone online, itself included
    /// (at most `list_max` names; the count is exact). Made once per change.
    pub fn snapshot(&mut self) -> Frame {
        if let Some(frame) = &self.snapshot {
            return frame.clone();
        }
        let mut users: Vec<&Email> = self.online_users().take(self.list_max).collect();
        users.sort();
        let online = self.online_count();
        let frame = room_event("presence", &PresenceSnapshot { users, online });
        self.snapshot = Some(frame.clone());
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(raw: &str) -> Email {
        Email::parse("user", raw).expect("valid e-mail")
    }

    #[test]
    fn a_user_is_online_from_the_first_tab_to_the_last() {
        let mut presence = Presence::new(200);
        let ana = email("ana@example.com");
        presence.tab_opened(&ana, 1);
        presence.tab_opened(&ana, 2);
        assert_eq!(presence.online_count(), 1);
        let diff = presence.take_diff().expect("ana joined");
        assert!(diff.text().contains(r#""joined":["ana@example.com"]"#));
        presence.tab_closed(&ana, 1);
        assert!(presence.take_diff().is_none());
        presence.tab_closed(&ana, 2);
        assert!(presence
            .take_diff()
            .expect("ana left")
            .text()
            .contains(r#""left":["ana@example.com"]"#));
    }

    #[test]
    fn users_on_other_instances_count_once() {
        let mut presence = Presence::new(200);
        let ana = email("ana@example.com");
        presence.remote_changed(vec![ana.clone(), ana.clone()], vec![]);
        presence.tab_opened(&ana, 1);
        assert_eq!(presence.online_count(), 1);
        presence.tab_closed(&ana, 1);
        presence.remote_changed(vec![], vec![ana.clone()]);
        assert_eq!(presence.online_count(), 1);
        presence.remote_changed(vec![], vec![ana]);
        assert_eq!(presence.online_count(), 0);
    }
}
