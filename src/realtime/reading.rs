//! Topic routing, the rooms' side: with a bus, a room has its stream read
//! only while sessions are on it. The first session that needs the stream
//! starts the reading, and what it asked for waits (in order, with
//! everything sessions ask meanwhile) until the bus has read where the
//! stream stands and the room has caught up from the entries Redis kept
//! (`StreamFollowed`). Once the room has had no session for
//! `redis.unfollow_after_ms`, the reading stops, so a page reload does not
//! stop and restart it. Without a bus the stream is always "read": the
//! room sees every event itself.

use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use super::events::{ReadStream, RoomStream};

/// Work held until the stream is read.
type Held<A> = Box<dyn FnOnce(&mut A, &mut Context<A>)>;

pub struct StreamReading<A: Actor<Context = Context<A>>> {
    /// Where to ask for the stream; `None` without a bus.
    bus: Option<(Recipient<ReadStream>, RoomStream)>,
    state: State,
    held: Vec<Held<A>>,
    /// How long the room keeps reading with no session on it.
    linger: Duration,
    /// Since when the room has had no session, while reading.
    idle_since: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Off,
    Starting,
    On,
}

impl<A: Actor<Context = Context<A>>> StreamReading<A> {
    /// The reading of `stream`: through `bus` (where to ask, and how long
    /// to linger with no session), or always, without one.
    pub fn new(stream: RoomStream, bus: Option<(Recipient<ReadStream>, Duration)>) -> Self {
        let (bus, linger) = match bus {
            Some((bus, linger)) => (Some((bus, stream)), linger),
            None => (None, Duration::ZERO),
        };
        StreamReading {
            state: if bus.is_some() { State::Off } else { State::On },
            bus,
            held: Vec::new(),
            linger,
            idle_since: None,
        }
    }

    /// Whether the stream is read now, so the room's log and snapshot are
    /// current (always, without a bus).
    pub fn is_read(&self) -> bool {
        self.state == State::On
    }

    /// Whether reading is starting: what sessions ask waits for it.
    pub fn is_starting(&self) -> bool {
        self.state == State::Starting
    }

    /// Runs `work` once the stream is read, asking the bus to read it if
    /// nobody has.
    pub fn hold(&mut self, work: impl FnOnce(&mut A, &mut Context<A>) + 'static) {
        if self.state == State::Off {
            self.ask(true);
            self.state = State::Starting;
        }
        self.held.push(Box::new(work));
    }

    /// The bus reads the stream now: what waited, to run in order.
    pub fn started(&mut self) -> Vec<Held<A>> {
        if self.bus.is_some() {
            self.state = State::On;
        }
        std::mem::take(&mut self.held)
    }

    /// The room has sessions on its stream, or none (`idle`). Returns when
    /// to call `stop_if_idle` if the room just became idle.
    pub fn set_idle(&mut self, idle: bool) -> Option<Duration> {
        if !idle {
            self.idle_since = None;
            return None;
        }
        if self.idle_since.is_some() || self.state != State::On || self.bus.is_none() {
            return None;
        }
        self.idle_since = Some(Instant::now());
        Some(self.linger)
    }

    /// Stops reading if the room has been idle for the whole linger;
    /// whether it stopped.
    pub fn stop_if_idle(&mut self) -> bool {
        let lingered = self
            .idle_since
            .is_some_and(|since| since.elapsed() >= self.linger);
        if !lingered || self.state != State::On || !self.held.is_empty() {
            return false;
        }
        self.idle_since = None;
        self.ask(false);
        self.state = State::Off;
        true
    }

    fn ask(&self, read: bool) {
        if let Some((bus, stream)) = &self.bus {
            bus.do_send(ReadStream {
                stream: *stream,
                read,
            });
        }
    }
}

/// A room whose stream is read only while sessions are on it.
pub trait ReadsStream: Actor<Context = Context<Self>> + Sized {
    fn reading(&mut self) -> &mut StreamReading<Self>;

    /// Whether no session is on the stream here.
    fn is_idle(&self) -> bool;

    /// The stream is no longer read: drop what only its events kept
    /// current.
    fn stopped_reading(&mut self);

    /// With no session left, reading stops after the linger.
    fn check_idle(&mut self, ctx: &mut Context<Self>) {
        let idle = self.is_idle();
        if let Some(after) = self.reading().set_idle(idle) {
            ctx.run_later(after, |room, _| {
                if room.reading().stop_if_idle() {
                    room.stopped_reading();
                }
            });
        }
    }

    /// Answers `answer(room)` once the stream is read (at once if it is):
    /// what only the stream's kept events can say.
    fn when_read<T: Default + 'static>(
        &mut self,
        answer: impl FnOnce(&mut Self) -> T + 'static,
    ) -> Response<T> {
        if self.reading().is_read() {
            return Response::reply(answer(self));
        }
        let (answered, answer_of) = oneshot::channel();
        self.reading().hold(move |room, _| {
            let _ = answered.send(answer(room));
        });
        Response::fut(async move { answer_of.await.unwrap_or_default() })
    }
}
