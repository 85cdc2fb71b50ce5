//! The bus following streams for its rooms, as they ask: a room's stream
//! (`ReadStream`, while sessions are on it) and a cart's stream (while a
//! local session watches the cart). Each starts with the newest events
//! Redis kept (`Bus::open_kept`), handed to the room for its log, then
//! reads on after them (`rooms`, `carts`).

use actix::prelude::*;
use redis::streams::StreamRangeReply;

use super::presence;
use super::rooms::RoomStreams;
use super::wire::{ClusterEvent, Kept, Stream};
use super::Bus;
use crate::realtime::events::{FollowCart, ReadStream, RoomStream, StreamFollowed, UnfollowCart};
use crate::realtime::stream::Offset;
use crate::store::CacheListings;

impl Bus {
    /// The kept events of a room's stream were read (`request`, if still
    /// the latest): the room starts its log from them, then the stream is
    /// read on after them.
    fn room_kept(
        &mut self,
        room: RoomStream,
        request: u64,
        read: Option<redis::RedisResult<StreamRangeReply>>,
    ) {
        if !self.rooms_followed.is_current(room, request) {
            return; // stopped or asked again meanwhile
        }
        let stream = RoomStreams::stream_of(room);
        let mut kept = match read {
            Some(read) => {
                let (key, count) = (self.rooms_followed.key(room), self.rooms_followed.kept());
                self.open_kept(stream, key, count, read)
            }
            None => Kept::from_now(presence::now_ms()),
        };
        let Some(head) = Offset::from_redis(&kept.head) else {
            return;
        };
        let complete = kept.complete;
        match room {
            RoomStream::Chat => {
                let kept = kept.take_events(|event| match event {
                    ClusterEvent::Chat(event) => Some(event),
                    _ => None,
                });
                self.rooms
                    .chat_followed
                    .do_send(StreamFollowed { head, kept, complete });
            }
            RoomStream::Products => {
                // From here on every product change is heard of.
                self.store.do_send(CacheListings { keep: true });
                let kept = kept.take_events(|event| match event {
                    ClusterEvent::Store(event) => Some(event),
                    _ => None,
                });
                self.rooms
                    .products_followed
                    .do_send(StreamFollowed { head, kept, complete });
            }
        }
        self.rooms_followed.start(room, kept.head);
    }
}

impl Handler<ReadStream> for Bus {
    type Result = ();

    fn handle(&mut self, ReadStream { stream: room, read }: ReadStream, ctx: &mut Context<Self>) {
        if !read {
            self.rooms_followed.unfollow(room);
            // Own events of it will not come back to be delivered here.
            self.own.forget(RoomStreams::stream_of(room));
            if room == RoomStream::Products {
                self.store.do_send(CacheListings { keep: false });
            }
            return;
        }
        match self.rooms_followed.follow(room) {
            (request, Some(read)) => read
                .into_actor(self)
                .map(move |newest, bus, _| bus.room_kept(room, request, Some(newest)))
                .spawn(ctx),
            (request, None) => self.room_kept(room, request, None),
        }
    }
}

impl Handler<FollowCart> for Bus {
    type Result = ();

    fn handle(&mut self, FollowCart(cart): FollowCart, ctx: &mut Context<Self>) {
        if let Some((request, read)) = self.carts.follow(cart) {
            read.into_actor(self)
                .map(move |newest, bus, _| {
                    let (key, count) = (bus.carts.key(&cart), bus.carts.kept());
                    let kept = bus.open_kept(Stream::Carts, key, count, newest);
                    bus.carts.kept_read(cart, request, kept);
                })
                .spawn(ctx);
        }
    }
}

impl Handler<UnfollowCart> for Bus {
    type Result = ();

    fn handle(&mut self, UnfollowCart(cart): UnfollowCart, _: &mut Context<Self>) {
        self.carts.unfollow(cart);
    }
}
