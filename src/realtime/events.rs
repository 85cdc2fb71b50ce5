//! The messages between the rooms (`ChatRoom`, `ProductFeed`) and the
//! cluster bus. Both sides name only these types and hold each other as
//! `Recipient`s, so neither module imports the other: the rooms work the
//! same with no bus at all (one instance), and the bus routes events
//! without knowing which actor takes them.

use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use super::stream::Offset;
use crate::domain::{ChatMessage, Email, Id};
use crate::store::StoreEvent;

/// An event with its offset in its stream: what the bus delivers (the
/// offset is the Redis stream entry id, the same on every instance).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Stamped<T> {
    pub offset: Offset,
    pub event: T,
}

/// A stored chat message and who may receive it: broadcast by the room
/// (handed to it by the bus when instances share one world).
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub struct ChatDelivery {
    pub message: ChatMessage,
    /// Whether the sender was logged in (their copy goes to their
    /// logged-in sessions only).
    pub sender_verified: bool,
    /// Whether the recipient of a direct message is an account (it goes to
    /// sessions logged in as it only).
    pub recipient_is_account: bool,
}

/// Room → bus: publish a stored chat message to every instance (the room
/// broadcasts it when it comes back, in the cluster's one order).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishChat(pub ChatDelivery);

/// Room → bus: this instance's online users changed: `(user, online)` per
/// user whose local state may have changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LocalPresence(pub Vec<(Email, bool)>);

/// Bus → room: users came online or went offline on another instance (each
/// entry: one instance more or fewer lists the user).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemotePresence {
    pub joined: Vec<Email>,
    pub left: Vec<Email>,
}

/// Bus → room: read the history again (another instance's messages may have
/// been missed while Redis was away).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReloadHistory;

/// Bus → product feed: drop the cached snapshot (another instance's changes
/// may have been missed while Redis was away).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForgetSnapshot;

/// The stream of a room, which the bus reads only while the room has
/// sessions on it (topic routing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomStream {
    Chat,
    Products,
}

/// Room → bus: start (`read: true`) or stop reading the room's stream;
/// started, the bus answers with `StreamFollowed`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReadStream {
    pub stream: RoomStream,
    pub read: bool,
}

/// Bus → room: its stream is read from here on, after `head`; `kept`: the
/// newest events Redis kept before it, oldest first, and whether they go
/// back to the stream's start (`complete`). Live events follow this.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StreamFollowed<T> {
    pub head: Offset,
    pub kept: Vec<Stamped<T>>,
    pub complete: bool,
}

/// Feed → bus: a local session watches `cart`, and none did: follow its
/// stream (topic routing: an instance reads only the carts watched here).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FollowCart(pub Id);

/// Feed → bus: nobody here watches `cart` any more.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UnfollowCart(pub Id);

/// Bus → feed: `cart`'s stream is followed from here on, after `head`;
/// `kept`: the newest events before it, oldest first, and whether they go
/// back to the stream's start (`complete`). Live events follow this.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CartFollowed {
    pub cart: Id,
    pub head: Offset,
    pub kept: Vec<Stamped<StoreEvent>>,
    pub complete: bool,
}

/// Where the product feed says which streams it needs: its own and the
/// carts watched here (none without a bus: it sees every change itself).
#[derive(Clone)]
pub struct FeedInterest {
    pub follow_cart: Recipient<FollowCart>,
    pub unfollow_cart: Recipient<UnfollowCart>,
    pub read: Recipient<ReadStream>,
    /// How long the feed keeps its stream read with no session on it.
    pub unfollow_after: Duration,
}

/// Where the bus delivers what it receives: this instance's rooms.
#[derive(Clone)]
pub struct LocalRooms {
    pub products: Recipient<Stamped<StoreEvent>>,
    pub forget_snapshot: Recipient<ForgetSnapshot>,
    pub chat: Recipient<Stamped<ChatDelivery>>,
    pub presence: Recipient<RemotePresence>,
    pub reload_history: Recipient<ReloadHistory>,
    pub chat_followed: Recipient<StreamFollowed<ChatDelivery>>,
    pub products_followed: Recipient<StreamFollowed<StoreEvent>>,
    pub cart_followed: Recipient<CartFollowed>,
}

/// Where the chat room publishes when instances share one world.
#[derive(Clone)]
pub struct ChatOutlet {
    pub messages: Recipient<PublishChat>,
    pub presence: Recipient<LocalPresence>,
    pub read: Recipient<ReadStream>,
    /// How long the room keeps its stream read with no session on it.
    pub unfollow_after: Duration,
}
