//! CONNECT packets of a Socket.IO session: a new namespace connection (a
//! fresh private id, its state parked for recovery), or the recovery of
//! one that dropped (`{pid, offset}` in the packet, as socket.io-client
//! sends after a reconnect): if its parked state is found and its room can
//! still resume from the offset, the connection is taken up again with the
//! same pid, else it is a fresh one.

use actix::prelude::*;
use serde_json::Value;

use super::namespaces::{Connect, Namespaces};
use super::packet;
use super::recovery::{Parked, RecoveryRequest};
use super::session::{SocketIoSession, Wire};
use crate::realtime::engine::registry::random_id;
use crate::realtime::stream::CanResume;

impl<W: Wire> SocketIoSession<W> {
    /// A CONNECT packet: a new connection, or the recovery of one that
    /// dropped (`{pid, offset}` in its data, as socket.io-client sends).
    pub(super) fn connect(&mut self, namespace: String, data: Option<Value>, ctx: &mut W::Context) {
        let request = RecoveryRequest::from_connect(data.as_ref());
        let Some(pid) = request.pid.filter(|_| !self.namespaces.is_connected(&namespace)) else {
            return self.connect_fresh(&namespace, ctx);
        };
        // The state it parked, if it can still be resumed: the packets
        // behind this one wait for the answer.
        self.order.hold();
        let parked = self.deps.recoveries.find(&pid);
        let rooms = self.deps.rooms.clone();
        let offset = request.offset;
        let since = offset.clone();
        let asked = namespace.clone();
        let check = async move {
            let parked = parked.await.filter(|parked| parked.namespace == namespace)?;
            let resumable = match (namespace.as_str(), since) {
                // Not joined: nothing was missed.
                ("/chat", None) => parked.joined.is_none(),
                ("/chat", Some(since)) => rooms.chat.room.send(CanResume(since)).await.unwrap_or(false),
                ("/products" | "/", Some(since)) => {
                    rooms.products.feed.send(CanResume(since)).await.unwrap_or(false)
                }
                _ => false,
            };
            resumable.then_some((namespace, parked))
        };
        check
            .into_actor(self)
            .map(move |recovered, session, ctx| {
                session.order.finish();
                match recovered {
                    Some((namespace, parked)) => {
                        session.connect_recovered(&namespace, pid, parked, offset, ctx)
                    }
                    None => session.connect_fresh(&asked, ctx),
                }
                session.run_waiting(ctx);
            })
            .spawn(ctx);
    }

    /// A new connection to `namespace` (or a repeated CONNECT).
    fn connect_fresh(&mut self, namespace: &str, ctx: &mut W::Context) {
        let deps = &self.deps;
        let pid = random_id();
        match self
            .namespaces
            .connect(namespace, pid, &deps.rooms, &self.identity)
        {
            Connect::Invalid => self.send_text(packet::connect_error(namespace, "Invalid namespace"), ctx),
            Connect::Again => {
                let pid = self.namespaces.pid(namespace).unwrap_or_default().to_owned();
                self.send_text(packet::connected(namespace, &random_id(), &pid), ctx);
            }
            Connect::New => {
                // Connected first, then the feed (it comes through the
                // mailbox, after this).
                let pid = self.namespaces.pid(namespace).unwrap_or_default().to_owned();
                self.send_text(packet::connected(namespace, &random_id(), &pid), ctx);
                let session = ctx.address().recipient();
                self.namespaces.open(namespace, &self.deps.rooms, session, None);
                self.park(namespace);
            }
        }
    }

    /// Takes up a connection that dropped: the same pid (so the client
    /// knows it recovered), then what it was doing, resumed from `offset`
    /// (the room replays the events missed).
    fn connect_recovered(
        &mut self,
        namespace: &str,
        pid: String,
        parked: Parked,
        offset: Option<String>,
        ctx: &mut W::Context,
    ) {
        let deps = &self.deps;
        let connected = self
            .namespaces
            .connect(namespace, pid.clone(), &deps.rooms, &self.identity);
        if connected != Connect::New {
            return self.connect_fresh(namespace, ctx);
        }
        self.send_text(packet::connected(namespace, &random_id(), &pid), ctx);
        let session = ctx.address().recipient();
        match namespace {
            "/products" => {
                self.namespaces.resume_products(offset);
                self.namespaces.open(namespace, &self.deps.rooms, session, None);
                if let Some(cart) = parked.cart {
                    let watch = serde_json::json!({ "_id": cart, "since": parked.cart_offset });
                    self.drive(
                        Namespaces::products,
                        namespace.to_owned(),
                        None,
                        "cart:watch",
                        &watch,
                        ctx,
                    );
                }
            }
            "/chat" => {
                if let Some(user) = parked.joined {
                    let join = serde_json::json!({ "user": user, "since": offset });
                    self.drive(Namespaces::chat, namespace.to_owned(), None, "join", &join, ctx);
                }
            }
            _ => self.namespaces.open(namespace, &self.deps.rooms, session, offset),
        }
        self.park(namespace);
    }

    /// Parks the state of `namespace` for its recovery, if it changed.
    pub(super) fn park(&mut self, namespace: &str) {
        if let Some((pid, state)) = self.namespaces.to_park(namespace) {
            self.deps.recoveries.park(&pid, &state);
        }
    }
}
