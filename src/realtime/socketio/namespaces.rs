//! The namespaces one Socket.IO client is connected to, and the room
//! endpoint behind each:
//! - `/products`: a `ProductClient` (the plain `/ws/products` rules);
//! - `/chat`: a `ChatClient` (the plain `/ws/chat` rules);
//! - `/`: a feed subscription for the course's `update_products` only.
//!
//! Each connection has a private id (`pid`) under which its state is
//! parked for recovery (`recovery`).

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use super::recovery::Parked;
use crate::auth::Accounts;
use crate::configuration::ChatSettings;
use crate::domain::{Email, User};
use crate::realtime::chat::{ChatClient, ChatRoom};
use crate::realtime::endpoint::Endpoint;
use crate::realtime::outbound::{next_session_id, Outbound, SessionId};
use crate::realtime::products::feed::{SubscribeUpdates, Unsubscribe};
use crate::realtime::products::{ProductClient, ProductFeed};
use crate::realtime::stream::Offset;
use crate::store::MongoStore;

/// The rooms a Socket.IO client can reach.
#[derive(Clone)]
pub struct Rooms {
    pub store: Addr<MongoStore>,
    pub product_feed: Addr<ProductFeed>,
    pub chat_room: Addr<ChatRoom>,
    pub accounts: Arc<Accounts>,
}

/// Who opened the session (from the session cookie at the handshake).
pub struct SocketIoIdentity {
    pub viewer: Option<User>,
    /// The e-mail a logged-in user chats as.
    pub chat: Option<Email>,
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
    products: Option<ProductClient>,
    chat: Option<ChatClient>,
    /// Each connected namespace's private id, and the state last parked.
    pids: HashMap<&'static str, (String, Parked)>,
    /// The offset of the last change of the watched cart delivered.
    cart_offset: Option<Offset>,
}

/// The namespaces there are.
pub const NAMESPACES: [&str; 3] = ["/", "/products", "/chat"];

fn known(namespace: &str) -> Option<&'static str> {
    NAMESPACES.into_iter().find(|known| *known == namespace)
}

impl Namespaces {
    /// Whether `namespace` is connected.
    pub fn is_connected(&self, namespace: &str) -> bool {
        self.pids.contains_key(namespace)
    }

    /// The private id of a connected namespace.
    pub fn pid(&self, namespace: &str) -> Option<&str> {
        self.pids.get(namespace).map(|(pid, _)| pid.as_str())
    }

    /// A CONNECT packet for `namespace`; `pid` is its private id if it is
    /// new (a fresh one, or the one it recovers).
    pub fn connect(
        &mut self,
        namespace: &str,
        pid: String,
        rooms: &Rooms,
        chat: &ChatSettings,
        identity: &SocketIoIdentity,
    ) -> Connect {
        let Some(namespace) = known(namespace) else {
            return Connect::Invalid;
        };
        if self.is_connected(namespace) {
            return Connect::Again;
        }
        // Nothing parked yet: the first `to_park` parks it.
        self.pids.insert(namespace, (pid, Parked::default()));
        match namespace {
            "/" if self.root.is_none() => self.root = Some(next_session_id()),
            "/products" if self.products.is_none() => {
                self.products = Some(ProductClient::new(
                    rooms.product_feed.clone(),
                    rooms.store.clone(),
                    rooms.accounts.clone(),
                    identity.viewer.clone(),
                ));
            }
            "/chat" if self.chat.is_none() => {
                self.chat = Some(ChatClient::new(
                    rooms.chat_room.clone(),
                    rooms.store.clone(),
                    chat,
                    identity.chat.clone(),
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
                        .product_feed
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
        self.pids.remove(namespace);
        match namespace {
            "/" => {
                if let Some(id) = self.root.take() {
                    rooms.product_feed.do_send(Unsubscribe { id });
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
            namespace: namespace.to_owned(),
            joined: match namespace {
                "/chat" => self.chat.as_ref().and_then(ChatClient::joined),
                _ => None,
            },
            cart: match namespace {
                "/products" => self
                    .products
                    .as_ref()
                    .and_then(ProductClient::watching)
                    .map(|cart| cart.to_hex()),
                _ => None,
            },
            cart_offset: match namespace {
                "/products" => self.cart_offset.as_ref().map(|offset| offset.as_str().to_owned()),
                _ => None,
            },
        };
        let (pid, parked) = self.pids.get_mut(namespace)?;
        if *parked == state {
            return None;
        }
        parked.clone_from(&state);
        Some((pid.clone(), state))
    }

    /// A change of the watched cart went to the client.
    pub fn cart_delivered(&mut self, offset: &Offset) {
        self.cart_offset = Some(offset.clone());
    }

    /// Resumes a recovered `/products` from `since`.
    pub fn resume_products(&mut self, since: Option<String>) {
        if let Some(products) = self.products.take() {
            self.products = Some(products.resuming_from(since));
        }
    }

    pub fn products(&mut self) -> Option<&mut ProductClient> {
        self.products.as_mut()
    }

    pub fn chat(&mut self) -> Option<&mut ChatClient> {
        self.chat.as_mut()
    }
}
