//! The rooms' streams on the bus (`chat`, `products`), read by an instance
//! only while the room asks for them: while local sessions are on it
//! (topic routing; the room decides, `crate::realtime::reading`).
//!
//! Following starts with the stream's newest kept events, which the room
//! rebuilds its log from, then reads on after the newest of them, so the
//! log and the live events meet with no gap and no duplicate. Only the
//! latest request counts: a read of kept events that a later stop or
//! start overtook is dropped.

use std::sync::Arc;

use actix::prelude::*;

use super::wire::{Keys, Stream};
use crate::cluster::connection::RedisClient;
use crate::cluster::link::LinkEvent;
use crate::cluster::topics::{newest, NewestRead, Topics};
use crate::cluster::ClusterLink;
use crate::realtime::events::RoomStream;

/// The one lane of a room's stream (it has a hash tag of its own).
const LANE: u16 = 0;

pub struct RoomStreams {
    keys: Keys,
    link: Arc<ClusterLink>,
    /// Entries kept per stream in Redis: the newest are read when
    /// following starts.
    kept: usize,
    chat: Followed,
    products: Followed,
}

struct Followed {
    topics: Topics,
    /// Whether the room asked for the stream (last said).
    wanted: bool,
    /// Numbers the room's requests: a kept read answers only the latest.
    request: u64,
}

impl RoomStreams {
    pub fn new(
        keys: Keys,
        link: Arc<ClusterLink>,
        client: RedisClient,
        owner: Recipient<LinkEvent>,
        kept: usize,
    ) -> Self {
        let followed = |stream: Stream| Followed {
            topics: Topics::new(client.clone(), owner.clone(), stream as usize),
            wanted: false,
            request: 0,
        };
        RoomStreams {
            keys,
            link,
            kept,
            chat: followed(Stream::Chat),
            products: followed(Stream::Products),
        }
    }

    fn of(&mut self, room: RoomStream) -> &mut Followed {
        match room {
            RoomStream::Chat => &mut self.chat,
            RoomStream::Products => &mut self.products,
        }
    }

    pub fn stream_of(room: RoomStream) -> Stream {
        match room {
            RoomStream::Chat => Stream::Chat,
            RoomStream::Products => Stream::Products,
        }
    }

    /// Whether events of `stream` are read here (the streams that are
    /// not a room's are followed their own way).
    pub fn follows(&self, stream: Stream) -> bool {
        match stream {
            Stream::Chat => self.chat.wanted,
            Stream::Products => self.products.wanted,
            Stream::Carts | Stream::Control => true,
        }
    }

    pub fn key(&self, room: RoomStream) -> String {
        self.keys.stream(Self::stream_of(room))
    }

    pub fn kept(&self) -> usize {
        self.kept
    }

    /// The room wants its stream: the request's number, and the read of its
    /// kept events to run (none while Redis is away: it is followed from
    /// now).
    pub fn follow(&mut self, room: RoomStream) -> (u64, Option<NewestRead>) {
        let connection = self.link.connection();
        let (key, kept) = (self.key(room), self.kept);
        let followed = self.of(room);
        followed.wanted = true;
        followed.request += 1;
        (
            followed.request,
            connection.map(|connection| newest(connection, key, kept)),
        )
    }

    /// Whether `request` is still the room's latest, and wants the stream.
    pub fn is_current(&mut self, room: RoomStream, request: u64) -> bool {
        let followed = self.of(room);
        followed.wanted && followed.request == request
    }

    /// Reads the stream on after entry `head`.
    pub fn start(&mut self, room: RoomStream, head: String) {
        let key = self.key(room);
        self.of(room).topics.follow(LANE, key, head);
        self.report();
    }

    /// The room no longer wants its stream.
    pub fn unfollow(&mut self, room: RoomStream) {
        let key = self.key(room);
        let followed = self.of(room);
        followed.wanted = false;
        followed.request += 1;
        followed.topics.unfollow(LANE, &key);
        self.report();
    }

    fn report(&self) {
        self.link
            .set_followed_rooms(self.chat.wanted, self.products.wanted);
    }
}
