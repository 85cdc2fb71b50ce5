//! The namespaces one Socket.IO client is connected to, and the room
//! endpoint behind each:
//! - `/products`: a `ProductClient` (the plain `/ws/products` rules);
//! - `/chat`: a `ChatClient` (the plain `/ws/chat` rules);
//! - `/`: a feed subscription for the course's `update_products` only.

use std::sync::Arc;

use actix::prelude::*;

use crate::auth::Accounts;
use crate::configuration::ChatSettings;
use crate::domain::{Email, User};
use crate::realtime::chat::{ChatClient, ChatRoom};
use crate::realtime::endpoint::Endpoint;
use crate::realtime::outbound::{next_session_id, Outbound, SessionId};
use crate::realtime::products::feed::{SubscribeUpdates, Unsubscribe};
use crate::realtime::products::{ProductClient, ProductFeed};
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
}

impl Namespaces {
    /// A CONNECT packet for `namespace`.
    pub fn connect(
        &mut self,
        namespace: &str,
        rooms: &Rooms,
        chat: &ChatSettings,
        identity: &SocketIoIdentity,
    ) -> Connect {
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
            "/" | "/products" | "/chat" => return Connect::Again,
            _ => return Connect::Invalid,
        }
        Connect::New
    }

    /// Starts a namespace just connected (and answered): the feed's
    /// snapshot and events follow the CONNECT answer.
    pub fn open(&mut self, namespace: &str, rooms: &Rooms, session: Recipient<Outbound>) {
        match namespace {
            "/" => {
                if let Some(id) = self.root {
                    rooms.product_feed.do_send(SubscribeUpdates {
                        id,
                        session,
                        since: None,
                    });
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

    pub fn products(&mut self) -> Option<&mut ProductClient> {
        self.products.as_mut()
    }

    pub fn chat(&mut self) -> Option<&mut ChatClient> {
        self.chat.as_mut()
    }
}
