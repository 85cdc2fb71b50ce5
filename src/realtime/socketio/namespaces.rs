//! The namespaces one Socket.IO client is connected to, and the room
//! endpoint behind each:
//! - `/products`: a `ProductClient` (the plain `/ws/products` rules);
//! - `/chat`: a `ChatClient` (the plain `/ws/chat` rules);
//! - `/`: a feed subscription for the course's `update_products` only.
//!
//! Each connection has a private id (`pid`) under which its state is
//! parked for recovery (`recovery`).

use std::net::IpAddr;
use std::sync::Arc;

use actix::prelude::*;

use super::recovery::Parked;
use crate::domain::{Email, User};
use crate::realtime::chat::client::ChatShared;
use crate::realtime::chat::ChatClient;
use crate::realtime::endpoint::Endpoint;
use crate::realtime::outbound::{next_session_id, Outbound, SessionId};
use crate::realtime::products::client::ProductShared;
use crate::realtime::products::feed::{SubscribeUpdates, Unsubscribe};
use crate::realtime::products::ProductClient;
use crate::realtime::stream::Offset;

/// The rooms a Socket.IO client can reach, through their endpoints.
#[derive(Clone)]
pub struct Rooms {
    pub chat: Arc<ChatShared>,
    pub products: Arc<ProductShared>,
}

/// Who opened the session (from the session cookie at the handshake), and
/// from where (limits count per address).
pub struct SocketIoIdentity {
    pub viewer: Option<User>,
    /// The e-mail a logged-in user chats as.
    pub chat: Option<Email>,
    pub address: Option<IpAddr>,
}

/// What a CONNECT packet did.
#[derive(Debug, PartialEq, Eq)]
pub enum Connect {
    /// Newly connected: answer, then `open` it.
    New,
    /// Already connected: answer again.
    Again,
    /// No such namespace.
    Invalid,
}

#[derive(Default)]
pub struct Namespaces {
    /// `/`: the feed subscription for `update_products`.
    root: Option<SessionId>,
    // Boxed: most clients use one namespace, and an idle one costs a
    // pointer, not a whole endpoint, in every session.
    products: Option<Box<ProductClient>>,
    chat: Option<Box<ChatClient>>,
    /// Each connected namespace's private id and a digest of the state
    /// last parked (by index in `NAMESPACES`).
    pids: [Option<Connection>; 3],
    /// The offset of the last change of the watched cart delivered.
    cart_offset: Option<Offset>,
}

/// The namespaces there are.
pub const NAMESPACES: [&str; 3] = ["/", "/products", "/chat"];

fn index_of(namespace: &str) -> Option<usize> {
    NAMESPACES.iter().position(|known| *known == namespace)
}

/// One namespace connection's recovery bookkeeping.
struct Connection {
    pid: Box<str>,
    /// A digest of the state last parked (0: none yet).
    parked: u64,
}

fn digest(parked: &Parked) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    parked.namespace.hash(&mut hasher);
    parked.joined.hash(&mut hasher);
    parked.cart.hash(&mut hasher);
    parked.cart_offset.hash(&mut hasher);
    hasher.finish() | 1
}

impl Namespaces {
    /// Whether `namespace` is connected.
    pub fn is_connected(&self, namespace: &str) -> bool {
        index_of(namespace).is_some_and(|index| self.pids[index].is_some())
    }

    /// The private id of a connected namespace.
    pub fn pid(&self, namespace: &str) -> Option<&str> {
        let index = index_of(namespace)?;
        self.pids[index].as_ref().map(|connection| &*connection.pid)
    }

    /// A CONNECT packet for `namespace`; `pid` is its private id if it is
    /// new (a fresh one, or the one it recovers).
    pub fn connect(
        &mut self,
        namespace: &str,
        pid: String,
        rooms: &Rooms,
        identity: &SocketIoIdentity,
    ) -> Connect {
        let Some(index) = index_of(namespace) else {
            return Connect::Invalid;
        };
        if self.is_connected(namespace) {
            return Connect::Again;
        }
        // Nothing parked yet: the first `to_park` parks it.
        self.pids[index] = Some(Connection {
            pid: pid.into_boxed_str(),
            parked: 0,
        });
        match namespace {
            "/" if self.root.is_none() => self.root = Some(next_session_id()),
            "/products" if self.products.is_none() => {
                self.products = Some(Box::new(ProductClient::new(
                    rooms.products.clone(),
                    identity.viewer.clone(),
                )));
            }
            "/chat" if self.chat.is_none() => {
                self.chat = Some(Box::new(
                    ChatClient::new(rooms.chat.clone(), identity.chat.clone()).from_address(identity.address),
                ));
            }
            _ => {}
        }
        Connect::New
    }

    /// Starts a namespace just connected (and answered): the feed's
    /// snapshot and events follow the CONNECT answer.
    /// `since`: where a recovered `/` resumes (`/products` resumes with
    /// `resume_products`, `/chat` at its join).
    pub fn open(
        &mut self,
        namespace: &str,
        rooms: &Rooms,
        session: Recipient<Outbound>,
        since: Option<String>,
    ) {
        match namespace {
            "/" => {
                if let Some(id) = self.root {
                    rooms
                        .products
                        .feed
                        .do_send(SubscribeUpdates { id, session, since });
                }
            }
            "/products" => {
                if let Some(products) = &mut self.products {
                    products.open(session);
                }
            }
            _ => {}
        }
    }

    /// A DISCONNECT packet, or the end of the session.
    pub fn disconnect(&mut self, namespace: &str, rooms: &Rooms) {
        if let Some(index) = index_of(namespace) {
            self.pids[index] = None;
        }
        match namespace {
            "/" => {
                if let Some(id) = self.root.take() {
                    rooms.products.feed.do_send(Unsubscribe { id });
                }
            }
            "/products" => {
                if let Some(mut products) = self.products.take() {
                    products.close();
                }
            }
            "/chat" => {
                if let Some(mut chat) = self.chat.take() {
                    chat.close();
                }
            }
            _ => {}
        }
    }

    /// The session ended: leaves every namespace.
    pub fn close_all(&mut self, rooms: &Rooms) {
        for namespace in ["/", "/products", "/chat"] {
            self.disconnect(namespace, rooms);
        }
    }

    /// The state of `namespace` to park, if it changed since last parked:
    /// (pid, state).
    pub fn to_park(&mut self, namespace: &str) -> Option<(String, Parked)> {
        let state = Parked {
            namespace: std::borrow::Cow::Borrowed(NAMESPACES[index_of(namespace)?]),
            joined: match namespace {
                "/chat" => self.chat.as_ref().and_then(|chat| chat.joined()),
                _ => None,
            },
            cart: match namespace {
                "/products" => self
                    .products
                    .as_ref()
                    .and_then(|products| products.watching())
                    .map(|cart| cart.to_hex()),
                _ => None,
            },
            cart_offset: match namespace {
                "/products" => self.cart_offset.as_ref().map(|offset| offset.as_str().to_owned()),
                _ => None,
            },
        };
        let connection = self.pids[index_of(namespace)?].as_mut()?;
        let digest = digest(&state);
        if connection.parked == digest {
            return None;
        }
        connection.parked = digest;
        Some((connection.pid.to_string(), state))
    }

    /// A change of the watched cart went to the client.
    pub fn cart_delivered(&mut self, offset: &Offset) {
        self.cart_offset = Some(offset.clone());
    }

    /// Resumes a recovered `/products` from `since`.
    pub fn resume_products(&mut self, since: Option<String>) {
        if let Some(products) = self.products.take() {
            self.products = Some(Box::new(products.resuming_from(since)));
        }
    }

    pub fn products(&mut self) -> Option<&mut ProductClient> {
        self.products.as_deref_mut()
    }

    pub fn chat(&mut self) -> Option<&mut ChatClient> {
        self.chat.as_deref_mut()
    }
}
