//! Black-box tests: the real app on port 0, over HTTP and WebSocket.

mod browser;
mod carts;
mod chat;
mod cluster;
mod delivery;
mod health;
mod helpers;
mod hostile;
mod limits;
mod openapi;
mod operations;
mod products;
mod products_ws;
mod redis_cluster;
mod reliability;
mod restart;
mod security;
mod socketio;
mod uploads;
mod users;
mod views;
