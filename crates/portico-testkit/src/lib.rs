//! Test support shared by the workspace's integration tests: real `portico` nodes ([`Node`]),
//! tests run on both databases ([`node_on_both_backends!`]), throwaway PostgreSQL databases
//! ([`PgDatabase`]), an echo backend ([`EchoBackend`]), REST calls as the admin ([`Admin`]) and a
//! TCP forwarder a test cuts to play a database outage ([`TcpProxy`]).
//!
//! PostgreSQL tests read `PORTICO_TEST_PG_URL` (a server URL whose user may create databases,
//! e.g. `postgres://postgres@127.0.0.1:5432/postgres`). When it is unset the tests skip loudly,
//! except under `CI=true`, where a missing database is a failure.
#![forbid(unsafe_code)]

mod backend;
mod node;
mod postgres;
mod proxy;
mod rest;

pub use backend::EchoBackend;
pub use node::{Node, NodeOptions, NodePorts, init_home};
pub use postgres::{PG_URL_VAR, PgDatabase};
pub use proxy::TcpProxy;
pub use rest::Admin;
