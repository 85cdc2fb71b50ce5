//! The seam between transports and rooms. A room's per-connection rules
//! (`ChatClient`, `ProductClient`) implement `Endpoint`; every transport
//! (a plain WebSocket session, a Socket.IO namespace) drives one the same
//! way: hand it each client event in order, run the work it returns, give
//! the answer back in the transport's own shape. So the chat and product
//! logic exists once, whatever carries it.

use actix::dev::ToEnvelope;
use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use serde_json::Value;

use super::outbound::Outbound;
use super::reply::Outcome;

/// How one client event is answered.
pub enum Step<R> {
    /// Now.
    Done(Outcome),
    /// When this work finishes, and the connection's later events wait for
    /// it; its result goes back to `Endpoint::resume`.
    Wait(LocalBoxFuture<'static, R>),
    /// When this work finishes; later events need not wait (their order is
    /// kept further on, e.g. by the room's mailbox).
    Answer(LocalBoxFuture<'static, Outcome>),
}

/// One connection's side of a room.
pub trait Endpoint: Unpin + 'static {
    /// What a `Step::Wait` hands back.
    type Resume: Send + 'static;

    /// The connection is up: `session` is where the room sends its frames.
    fn open(&mut self, session: Recipient<Outbound>);

    /// One client event. `session` makes the recipient of this connection's
    /// frames, if the event needs one.
    fn on_event(
        &mut self,
        event: &str,
        data: &Value,
        session: impl FnOnce() -> Recipient<Outbound>,
    ) -> Step<Self::Resume>;

    /// The work of a `Step::Wait` finished: how the event is answered now.
    fn resume(
        &mut self,
        resume: Self::Resume,
        session: impl FnOnce() -> Recipient<Outbound>,
    ) -> Step<Self::Resume>;

    /// The connection ended (or left the namespace).
    fn close(&mut self);
}

/// What a session does with a result, once it is back.
pub type Then<A> = Box<dyn FnOnce(&mut A, &mut <A as Actor>::Context) + Send>;

/// The end of a client event's work, handed back to its session.
pub struct Continue<A: Actor>(pub Then<A>);

impl<A: Actor> Message for Continue<A> {
    type Result = ();
}

/// Runs a client event's work apart from its session, then hands the
/// result back to it (`then`, if the session is still there). Apart, so
/// that the work is not dropped with the session: actix does not deliver a
/// message whose asker is gone, and a chat message or a product write sent
/// just before a disconnect must still be stored and broadcast.
pub fn detach<A, T>(
    work: LocalBoxFuture<'static, T>,
    session: Addr<A>,
    then: impl FnOnce(&mut A, &mut A::Context, T) + Send + 'static,
) where
    A: Actor + Handler<Continue<A>>,
    A::Context: ToEnvelope<A, Continue<A>>,
    T: Send + 'static,
{
    actix::spawn(async move {
        let result = work.await;
        session.do_send(Continue(Box::new(move |actor, ctx| then(actor, ctx, result))));
    });
}
