//! `AppState`: what every request handler may use — the actors' addresses,
//! the settings, the views and the account rules. Built in `startup`, read
//! by `routes` through `web::Data<AppState>`.

use std::sync::Arc;

use actix::Addr;

use crate::auth::{Accounts, LoginLimiter};
use crate::cluster::ClusterLink;
use crate::configuration::Settings;
use crate::metrics::Metrics;
use crate::realtime::chat::client::ChatShared;
use crate::realtime::chat::limits::ChatLimits;
use crate::realtime::limits::SessionLimits;
use crate::realtime::products::client::ProductShared;
use crate::realtime::session::SessionContext;
use crate::realtime::socketio::{Recoveries, Rooms, SocketIoDeps, SocketIoSessions};
use crate::realtime::{ChatRoom, ProductFeed};
use crate::store::MongoStore;
use crate::templates::Templates;

/// Each HTTP worker has its own copy with its own `MongoStore` actor (over
/// the one shared backend), so a request and its store call stay on one
/// thread; the rest is shared.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Addr<MongoStore>,
    pub store_name: &'static str,
    pub product_feed: Addr<ProductFeed>,
    pub chat_room: Addr<ChatRoom>,
    pub views: Arc<Templates>,
    pub accounts: Arc<Accounts>,
    pub login_limiter: Arc<LoginLimiter>,
    /// Chat messages per person and per address, across sessions.
    pub chat_limits: Arc<ChatLimits>,
    pub metrics: Arc<Metrics>,
    /// What each endpoint's WebSocket sessions are given.
    pub sessions: Arc<EndpointSessions>,
    pub session_limits: Arc<SessionLimits>,
    /// The live Socket.IO sessions, by Engine.IO session id.
    pub socketio: Arc<SocketIoSessions>,
    /// Socket.IO connection states parked for recovery.
    pub socketio_recoveries: Arc<Recoveries>,
    /// The Redis link, when instances share one world.
    pub cluster: Option<Arc<ClusterLink>>,
}

/// What the sessions opened through one HTTP worker share, one `Arc` each
/// (a session holds pointers, not its own actor addresses): the rooms'
/// endpoints with this worker's store actor. Registered per worker as
/// `web::Data<Endpoints>`.
pub struct Endpoints {
    pub chat: Arc<ChatShared>,
    pub products: Arc<ProductShared>,
    pub socketio: Arc<SocketIoDeps>,
}

impl Endpoints {
    pub fn new(state: &AppState, store: Addr<MongoStore>) -> Endpoints {
        let chat = ChatShared::new(
            state.chat_room.clone(),
            store.clone(),
            state.chat_limits.clone(),
            &state.settings.chat,
        );
        let products = Arc::new(ProductShared {
            feed: state.product_feed.clone(),
            store,
            accounts: state.accounts.clone(),
        });
        let socketio = Arc::new(SocketIoDeps {
            settings: state.settings.clone(),
            rooms: Rooms {
                chat: chat.clone(),
                products: products.clone(),
            },
            recoveries: state.socketio_recoveries.clone(),
            sessions: state.socketio.clone(),
            context: state.sessions.socketio.clone(),
        });
        Endpoints {
            chat,
            products,
            socketio,
        }
    }
}

/// The session context of each WebSocket endpoint.
pub struct EndpointSessions {
    pub products: SessionContext,
    pub chat: SessionContext,
    pub socketio: SessionContext,
}
