//! One `/ws/products` connection: receives the feed, and lets the page
//! create and delete products (`product:create`, `product:delete`).

use actix::prelude::*;
use actix_web_actors::ws::{self, WebsocketContext};
use bytestring::ByteString;
use serde::Deserialize;

use super::limits::SessionSlot;
use super::outbound::Outbound;
use super::product_feed::{ProductFeed, Subscribe, Unsubscribe, WatchCart};
use super::protocol::ClientEvent;
use super::session::{
    next_session_id, send_error, send_validation_error, Connection, Incoming, SessionContext, SessionId,
};
use std::sync::Arc;

use crate::auth::{authorize_cart, may_write_products, Accounts};
use crate::configuration::WebSocketSettings;
use crate::domain::{parse_id, Id, NewProduct, User, ValidationError};
use crate::store::{CreateProduct, DeleteProduct, MongoStore, StoreError};

pub struct ProductSession {
    id: SessionId,
    connection: Connection,
    feed: Addr<ProductFeed>,
    store: Addr<MongoStore>,
    accounts: Arc<Accounts>,
    /// Who opened the socket (from the session cookie at the handshake).
    viewer: Option<User>,
}

impl ProductSession {
    pub fn new(
        settings: &WebSocketSettings,
        feed: Addr<ProductFeed>,
        store: Addr<MongoStore>,
        accounts: Arc<Accounts>,
        viewer: Option<User>,
        context: SessionContext,
        slot: SessionSlot,
    ) -> Self {
        ProductSession {
            id: next_session_id(),
            connection: Connection::new(settings, context, slot),
            feed,
            store,
            accounts,
            viewer,
        }
    }

    /// The same rule as the REST API: an `error` event if refused.
    fn may_write(&self, ctx: &mut WebsocketContext<Self>) -> bool {
        match may_write_products(&self.accounts, self.viewer.as_ref()) {
            Ok(()) => true,
            Err(refusal) => {
                send_error(ctx, refusal.client_message(), None);
                false
            }
        }
    }

    fn handle_event(&mut self, text: &ByteString, ctx: &mut WebsocketContext<Self>) {
        let event = match ClientEvent::parse(text) {
            Ok(event) => event,
            Err(message) => return self.connection.reply_error(ctx, message),
        };
        match event.event.as_str() {
            "product:create" | "product:delete" if !self.may_write(ctx) => {}
            "product:create" => match NewProduct::parse(&event.data) {
                Ok(product) => self.run_store_call(self.store.send(CreateProduct { product }), ctx),
                Err(error) => send_validation_error(ctx, &error),
            },
            "product:delete" => match parse_target(&event.data) {
                Ok(id) => self.run_store_call(self.store.send(DeleteProduct { id }), ctx),
                Err(error) => send_validation_error(ctx, &error),
            },
            "cart:watch" => match parse_target(&event.data) {
                Ok(cart) => self.watch_cart(cart, ctx),
                Err(error) => send_validation_error(ctx, &error),
            },
            other => self.connection.reply_error(
                ctx,
                format!(
                    "unknown event {other:?}: /ws/products accepts product:create, product:delete and cart:watch"
                ),
            ),
        }
    }

    /// Watches a cart once the cart rule allows it (`error` otherwise).
    fn watch_cart(&self, cart: Id, ctx: &mut WebsocketContext<Self>) {
        let (store, accounts, viewer) = (self.store.clone(), self.accounts.clone(), self.viewer.clone());
        let check = async move { authorize_cart(&store, &accounts, viewer.as_ref(), cart).await };
        check
            .into_actor(self)
            .map(move |allowed, session, ctx| match allowed {
                Ok(()) => session.feed.do_send(WatchCart { id: session.id, cart }),
                Err(refusal) => send_error(
                    ctx,
                    format!("cart:watch refused: {}", refusal.client_message()),
                    None,
                ),
            })
            .spawn(ctx);
    }

    /// Waits for a store call; its success reaches every client through the
    /// feed, its failure goes back to this client as an `error` event.
    fn run_store_call<M, T>(&self, call: Request<MongoStore, M>, ctx: &mut WebsocketContext<Self>)
    where
        M: Message<Result = Result<T, StoreError>> + Send + 'static,
        M::Result: Send,
        MongoStore: Handler<M>,
        T: 'static,
    {
        call.into_actor(self)
            .map(|result, _, ctx| {
                let error = match result {
                    Ok(Ok(_)) => return,
                    Ok(Err(error)) => error.client_message(),
                    Err(_) => StoreError::Unavailable("store stopped".to_owned()).to_string(),
                };
                send_error(ctx, error, None);
            })
            .spawn(ctx);
    }
}

#[derive(Deserialize)]
struct IdRequest {
    #[serde(rename = "_id")]
    id: String,
}

/// The `{"_id": "<id>"}` data of `product:delete` and `cart:watch`.
pub(crate) fn parse_target(data: &serde_json::Value) -> Result<crate::domain::Id, ValidationError> {
    let request = IdRequest::deserialize(data)
        .map_err(|_| ValidationError::new("_id", r#"this event needs {"_id": "<id>"}"#))?;
    parse_id("_id", &request.id)
}

impl AsMut<Connection> for ProductSession {
    fn as_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }
}

impl Actor for ProductSession {
    type Context = WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.connection.start(ctx);
        self.feed.do_send(Subscribe {
            id: self.id,
            session: ctx.address().recipient(),
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.connection.stopped();
        self.feed.do_send(Unsubscribe { id: self.id });
    }
}

impl Handler<Outbound> for ProductSession {
    type Result = ();

    fn handle(&mut self, item: Outbound, ctx: &mut Self::Context) {
        self.connection.deliver(item, ctx);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for ProductSession {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        if let Incoming::Text(text) = self.connection.receive(message, ctx) {
            self.handle_event(&text, ctx);
        }
    }
}
