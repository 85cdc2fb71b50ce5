//! `Engine`: one Engine.IO session's transport state, whatever protocol
//! rides on it. It holds the current transport (long-polling, or the
//! WebSocket a client upgraded to), the packets waiting for the next poll
//! (bounded like a plain socket's queue) and the upgrade in progress.
//! Plain state, no actor: the session actor that owns it decides what to
//! do with what it reports. (A session that starts on a WebSocket needs
//! none of this: it writes to its socket itself.)

use std::collections::VecDeque;

use actix::prelude::*;
use actix_web_actors::ws::CloseCode;
use bytestring::ByteString;
use prometheus::IntCounter;
use tokio::sync::oneshot;

use super::messages::{EngineError, SocketWrite};
use super::packet::{join_payload, CLOSE, NOOP};

pub struct Engine {
    sid: String,
    transport: Transport,
    /// Packets waiting for the next poll (long-polling only).
    outbox: VecDeque<ByteString>,
    /// At most this many packets wait for a poll.
    queue_max: usize,
    frames_sent: IntCounter,
}

enum Transport {
    /// Long-polling: a GET waiting for packets, if any. Once a WebSocket
    /// has probed the session (`upgrading`), polls are answered at once
    /// with a noop, so the client can pause polling and finish upgrading.
    Polling {
        waiter: Option<oneshot::Sender<String>>,
        upgrading: bool,
    },
    WebSocket(Recipient<SocketWrite>),
}

/// What became of a packet handed to `send`.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Ok,
    /// The client does not keep up: its queue is full.
    TooSlow,
    /// The transport is gone.
    Closed,
}

/// How a poll is answered.
pub enum PollAnswer {
    Now(String),
    /// When a packet is queued (or the session closes).
    Later(oneshot::Receiver<String>),
}

impl Engine {
    pub fn new(sid: String, queue_max: usize, frames_sent: IntCounter) -> Engine {
        Engine {
            sid,
            transport: Transport::Polling {
                waiter: None,
                upgrading: false,
            },
            outbox: VecDeque::new(),
            queue_max,
            frames_sent,
        }
    }

    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// Sends one packet by the current transport.
    pub fn send(&mut self, packet: ByteString) -> Sent {
        match &mut self.transport {
            Transport::WebSocket(socket) => match socket.try_send(SocketWrite::Packet(packet)) {
                Ok(()) => {
                    self.frames_sent.inc();
                    Sent::Ok
                }
                Err(SendError::Full(_)) => Sent::TooSlow,
                Err(SendError::Closed(_)) => Sent::Closed,
            },
            Transport::Polling { waiter, .. } => {
                if self.outbox.len() >= self.queue_max {
                    return Sent::TooSlow;
                }
                self.outbox.push_back(packet);
                if let Some(waiter) = waiter.take() {
                    Self::flush(&mut self.outbox, &self.frames_sent, waiter);
                }
                Sent::Ok
            }
        }
    }

    /// Sends several packets as one item: a batch (a replay, a welcome) is
    /// checked against the queue bound once, before it, so a client that
    /// keeps up can take a replay longer than its queue.
    pub fn send_all(&mut self, packets: impl Iterator<Item = ByteString>) -> Sent {
        if let Transport::Polling { waiter, .. } = &mut self.transport {
            if self.outbox.len() >= self.queue_max {
                return Sent::TooSlow;
            }
            self.outbox.extend(packets);
            if let Some(waiter) = waiter.take() {
                Self::flush(&mut self.outbox, &self.frames_sent, waiter);
            }
            return Sent::Ok;
        }
        let Transport::WebSocket(socket) = &self.transport else {
            return Sent::Closed;
        };
        let packets: Vec<ByteString> = packets.collect();
        let count = packets.len() as u64;
        match socket.try_send(SocketWrite::Packets(packets)) {
            Ok(()) => {
                self.frames_sent.inc_by(count);
                Sent::Ok
            }
            Err(SendError::Full(_)) => Sent::TooSlow,
            Err(SendError::Closed(_)) => Sent::Closed,
        }
    }

    /// Answers a waiting poll with everything queued.
    fn flush(outbox: &mut VecDeque<ByteString>, frames_sent: &IntCounter, waiter: oneshot::Sender<String>) {
        frames_sent.inc_by(outbox.len() as u64);
        let _ = waiter.send(join_payload(outbox.drain(..)));
    }

    /// A long-polling GET.
    pub fn poll(&mut self) -> Result<PollAnswer, EngineError> {
        let Transport::Polling { waiter, upgrading } = &mut self.transport else {
            // Upgraded: a late poll gets a noop.
            return Ok(PollAnswer::Now(NOOP.to_owned()));
        };
        if *upgrading && self.outbox.is_empty() {
            return Ok(PollAnswer::Now(NOOP.to_owned()));
        }
        if waiter.is_some() {
            return Err(EngineError::OverlappingPoll);
        }
        let (sender, receiver) = oneshot::channel();
        if self.outbox.is_empty() {
            *waiter = Some(sender);
        } else {
            Self::flush(&mut self.outbox, &self.frames_sent, sender);
        }
        Ok(PollAnswer::Later(receiver))
    }

    /// A WebSocket probed the session: the waiting poll, if any, gets a
    /// noop, and later ones too until the upgrade ends.
    pub fn probed(&mut self) {
        if let Transport::Polling { waiter, upgrading } = &mut self.transport {
            *upgrading = true;
            if let Some(waiter) = waiter.take() {
                let _ = waiter.send(NOOP.to_owned());
            }
        }
    }

    /// The WebSocket takes over; what was queued for the next poll goes by
    /// it now, in order.
    pub fn use_websocket(&mut self, socket: Recipient<SocketWrite>) -> Sent {
        let previous = std::mem::replace(&mut self.transport, Transport::WebSocket(socket));
        if let Transport::Polling {
            waiter: Some(waiter), ..
        } = previous
        {
            let _ = waiter.send(NOOP.to_owned());
        }
        let queued = std::mem::take(&mut self.outbox);
        for packet in queued {
            let sent = self.send(packet);
            if sent != Sent::Ok {
                return sent;
            }
        }
        Sent::Ok
    }

    /// Tells the client the session is over: the WebSocket closes with
    /// `code`, a waiting poll gets a close packet.
    pub fn close(&mut self, code: CloseCode) {
        let previous = std::mem::replace(
            &mut self.transport,
            Transport::Polling {
                waiter: None,
                upgrading: false,
            },
        );
        match previous {
            Transport::Polling {
                waiter: Some(waiter), ..
            } => {
                let _ = waiter.send(CLOSE.to_owned());
            }
            Transport::WebSocket(socket) => socket.do_send(SocketWrite::Close(code)),
            Transport::Polling { waiter: None, .. } => {}
        }
    }
}
