//! Adaptive idle polling for the gateway's I/O threads.
//!
//! Under load an I/O thread empties its task queue thousands of times a second and blocks in
//! `epoll_wait` for the next event, which is often only microseconds away. Each of those sleeps
//! costs a context switch on this thread and a wake-up on the side that sends the next event (the
//! client or the backend), and it shrinks the batches every party handles per wake-up. Keeping
//! the core for a few microseconds before blocking turns most of those sleeps into a return with
//! events already waiting. (nginx's worker gets larger batches without polling: kernel
//! tracepoints showed Portico's I/O thread calling `epoll_wait` about four times as often per
//! request, and the backend behind it sleeping twice as often.) It costs CPU at moderate load, so
//! it is off unless `[apim.gateway] idle_poll_us` is set.
//!
//! The window adapts the way guest halt-polling does (Linux's `cpuidle-haltpoll`): it grows while
//! the sleeps after it are short, stays while events are waiting when it ends, and halves, down to
//! off, after a long sleep, so an idle node does not poll at all. A thread also polls only while it
//! serves at least [`MIN_OPEN_CONNECTIONS`] connections: with a few clients in lock-step the next
//! event is as close, but polling then keeps a core from the client and the backend that must
//! produce it (on a 2-core machine running all three, 4 connections lost a quarter of their
//! req/s). The thread yields while it polls, so any other runnable thread on the core runs first.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Smallest window the poll opens with (and below which it turns off).
const START: Duration = Duration::from_micros(10);

/// A wake-up this soon after the window closed found events already waiting: the window served.
const CAUGHT: Duration = Duration::from_micros(10);

/// Fewest open connections on a thread for it to poll.
const MIN_OPEN_CONNECTIONS: usize = 16;

/// One I/O thread's polling state.
#[derive(Debug, Clone, Copy)]
struct PollState {
    /// How long the next park polls before blocking; zero when off.
    window: Duration,
    /// When the last poll ended (the thread then blocked); `None` before the first park.
    blocked_at: Option<Instant>,
    /// Parks that polled, for tests.
    polls: u64,
}

thread_local! {
    static STATE: Cell<PollState> = const {
        Cell::new(PollState {
            window: Duration::ZERO,
            blocked_at: None,
            polls: 0,
        })
    };
}

/// The window after a park whose blocking part lasted `slept`.
fn next_window(window: Duration, slept: Duration, max: Duration) -> Duration {
    if slept <= CAUGHT {
        // Events were waiting (or arrived at once): the window, if any, was long enough.
        window
    } else if slept <= max {
        // The next event came shortly after blocking: a longer window would have caught it.
        (window * 2).clamp(START.min(max), max)
    } else {
        // A real idle gap: poll less, and not at all once under the smallest window.
        let halved = window / 2;
        if halved < START { Duration::ZERO } else { halved }
    }
}

/// Makes the single-threaded runtime built by `builder` poll for up to `max` before each park
/// (see the module docs); `open_connections` tells how many connections it serves now. Zero
/// leaves the runtime as it is.
pub(crate) fn install(
    builder: &mut tokio::runtime::Builder,
    max: Duration,
    open_connections: impl Fn() -> usize + Send + Sync + 'static,
) {
    if max.is_zero() {
        return;
    }
    builder.on_thread_park(move || {
        let mut state = STATE.get();
        if !state.window.is_zero() && open_connections() >= MIN_OPEN_CONNECTIONS {
            state.polls += 1;
            let until = Instant::now() + state.window;
            while Instant::now() < until {
                std::thread::yield_now();
            }
        }
        state.blocked_at = Some(Instant::now());
        STATE.set(state);
    });
    builder.on_thread_unpark(move || {
        let mut state = STATE.get();
        if let Some(blocked_at) = state.blocked_at.take() {
            state.window = next_window(state.window, blocked_at.elapsed(), max);
        }
        STATE.set(state);
    });
}

/// Parks of the calling thread that polled, for tests.
#[cfg(test)]
fn polls() -> u64 {
    STATE.get().polls
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_micros(40);

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn the_window_opens_on_short_sleeps_grows_to_the_maximum_and_closes_on_idle_gaps() {
        // Off, and the next event came 25 µs after blocking: open at the smallest window.
        assert_eq!(next_window(Duration::ZERO, us(25), MAX), START);
        // Still short sleeps after polling: double, up to the maximum.
        assert_eq!(next_window(us(10), us(30), MAX), us(20));
        assert_eq!(next_window(us(20), us(30), MAX), MAX);
        assert_eq!(next_window(MAX, us(30), MAX), MAX);
        // Events waiting when the window closed: keep it.
        assert_eq!(next_window(us(20), us(2), MAX), us(20));
        // Busy enough never to block: stays off.
        assert_eq!(next_window(Duration::ZERO, us(1), MAX), Duration::ZERO);
        // Idle gaps halve it, then turn it off.
        assert_eq!(next_window(MAX, us(500), MAX), us(20));
        assert_eq!(next_window(us(20), us(500), MAX), START);
        assert_eq!(next_window(START, us(500), MAX), Duration::ZERO);
        assert_eq!(next_window(Duration::ZERO, Duration::from_secs(1), MAX), Duration::ZERO);
        // A maximum under the smallest window is honoured.
        assert_eq!(next_window(Duration::ZERO, us(3 + 10), us(15)), START);
    }

    /// A runtime whose only events are a timer every few milliseconds (an idle node) never polls;
    /// one whose tasks wake each other through a socket pair every few microseconds does.
    #[test]
    fn an_idle_runtime_never_polls_and_a_busy_one_does() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let open = Arc::new(AtomicUsize::new(1));
        let mut builder = tokio::runtime::Builder::new_current_thread();
        builder.enable_all();
        let serving = open.clone();
        install(&mut builder, MAX, move || serving.load(Ordering::Relaxed));
        let runtime = builder.build().expect("runtime");
        runtime.block_on(async {
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        assert_eq!(polls(), 0, "an idle runtime polled");

        // Ping-pong with a thread that answers after a short spin: each wait is a few µs.
        let (here, mut there) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        let echo = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut byte = [0u8; 1];
            while there.read_exact(&mut byte).is_ok() {
                let until = Instant::now() + Duration::from_micros(15);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                if there.write_all(&byte).is_err() {
                    break;
                }
            }
        });
        here.set_nonblocking(true).expect("nonblocking");
        let ping_pong = |here: std::os::unix::net::UnixStream, rounds: usize| {
            runtime.block_on(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut here = tokio::net::UnixStream::from_std(here).expect("tokio stream");
                let mut byte = [0u8; 1];
                for _ in 0..rounds {
                    here.write_all(b"x").await.expect("write");
                    here.read_exact(&mut byte).await.expect("read");
                }
                here.into_std().expect("std stream")
            })
        };
        // One connection in lock-step does not poll ...
        let here = ping_pong(here, 1_000);
        assert_eq!(polls(), 0, "a thread serving one connection polled");
        // ... a thread serving many does.
        open.store(MIN_OPEN_CONNECTIONS, Ordering::Relaxed);
        let here = ping_pong(here, 2_000);
        drop(here);
        echo.join().expect("echo thread");
        assert!(
            polls() > 0,
            "a thread serving many connections, each event µs away, never polled"
        );
    }
}
