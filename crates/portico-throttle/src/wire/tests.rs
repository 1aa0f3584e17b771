use rand::{Rng, SeedableRng};

use super::body::EventsEncoder;
use super::*;
use crate::decision::Decision;
use crate::window::WindowQuota;

fn secret() -> ClusterSecret {
    ClusterSecret::new(b"a cluster secret of enough bytes").expect("secret")
}

fn quota(limit: u64) -> WindowQuota {
    WindowQuota::new(limit, 60_000).expect("quota")
}

fn samples() -> Vec<Message> {
    vec![
        Message::Hello(Hello {
            node_id: "node-1".into(),
            nonce: [7; NONCE_LEN],
            subscribe: true,
        }),
        Message::Welcome(Welcome {
            node_id: "node-2 ünïcode".into(),
            nonce: [9; NONCE_LEN],
        }),
        Message::Events(vec![
            CountEntry {
                key: "/p/1.0:1.0".into(),
                quota: quota(100),
                count: 3,
            },
            CountEntry {
                key: "7:/p/1.0:1.0#burst".into(),
                quota: WindowQuota::new(u64::MAX, 1).expect("quota"),
                count: u64::MAX,
            },
        ]),
        Message::Events(vec![]),
        Message::Decisions(vec![
            Decision {
                key: "k".into(),
                throttled: true,
                until_ms: 1_795_688_160_000,
            },
            Decision {
                key: String::new(),
                throttled: false,
                until_ms: 0,
            },
        ]),
        Message::SyncRequest,
        Message::SyncState(vec![SyncEntry {
            key: "k".into(),
            quota: quota(5),
            window_start_ms: 1_795_688_100_000,
            count: 4,
        }]),
    ]
}

fn sealed(key: &mut FrameKey, message: &Message) -> Vec<u8> {
    let mut body = Vec::new();
    let kind = message.encode(&mut body);
    let mut frame = Vec::new();
    key.seal(kind, &body, &mut frame).expect("seal");
    frame
}

#[test]
fn every_message_round_trips() {
    let s = secret();
    let mut sender = s.session_key(Direction::ClientToServer, &[1; 16], &[2; 16]);
    let mut receiver = s.session_key(Direction::ClientToServer, &[1; 16], &[2; 16]);
    for message in samples() {
        let frame = sealed(&mut sender, &message);
        let (kind, body) = receiver.open(&frame, FrameLimits::default()).expect("open");
        assert_eq!(Message::decode(kind, body).expect("decode"), message);
    }
}

#[test]
fn the_events_encoder_and_view_agree_with_the_message() {
    let mut encoder = EventsEncoder::default();
    encoder.push("a", quota(10), 1);
    encoder.push("b", quota(20), 300);
    assert_eq!(encoder.len(), 2);
    let body = encoder.finish();
    assert!(encoder.is_empty());
    let view = EventsView::parse(&body).expect("valid");
    let entries: Vec<_> = view.iter().collect();
    assert_eq!(entries, [("a", quota(10), 1), ("b", quota(20), 300)]);
    let Message::Events(owned) = Message::decode(FrameKind::Events, &body).expect("decode") else {
        panic!("not events");
    };
    assert_eq!(owned.len(), 2);
}

#[test]
fn a_wrong_secret_fails_authentication() {
    let other = ClusterSecret::new(b"another secret of enough bytes!").expect("secret");
    let frame = sealed(&mut other.hello_key(Direction::ClientToServer), &Message::SyncRequest);
    let err = secret()
        .hello_key(Direction::ClientToServer)
        .open(&frame, FrameLimits::default())
        .expect_err("refused");
    assert!(matches!(err, WireError::BadTag), "{err}");
    assert!(err.is_bad_frame());
}

#[test]
fn replayed_reflected_or_altered_frames_fail_authentication() {
    let s = secret();
    let mut sender = s.session_key(Direction::ClientToServer, &[1; 16], &[2; 16]);
    let mut receiver = s.session_key(Direction::ClientToServer, &[1; 16], &[2; 16]);
    let frame = sealed(&mut sender, &Message::SyncRequest);
    receiver.open(&frame, FrameLimits::default()).expect("first time");
    let err = receiver.open(&frame, FrameLimits::default()).expect_err("replay");
    assert!(matches!(err, WireError::BadTag));
    // The same frame on another session (other nonces) or the other direction.
    let mut other_session = s.session_key(Direction::ClientToServer, &[1; 16], &[3; 16]);
    assert!(matches!(
        other_session.open(&frame, FrameLimits::default()),
        Err(WireError::BadTag)
    ));
    let mut reflected = s.session_key(Direction::ServerToClient, &[1; 16], &[2; 16]);
    assert!(matches!(
        reflected.open(&frame, FrameLimits::default()),
        Err(WireError::BadTag)
    ));
    // One flipped body bit.
    let mut sender = s.session_key(Direction::ClientToServer, &[4; 16], &[4; 16]);
    let mut receiver = s.session_key(Direction::ClientToServer, &[4; 16], &[4; 16]);
    let mut frame = sealed(&mut sender, &samples()[2]);
    frame[HEADER_LEN + 3] ^= 1;
    assert!(matches!(
        receiver.open(&frame, FrameLimits::default()),
        Err(WireError::BadTag)
    ));
}

#[test]
fn header_refusals() {
    let mut key = secret().hello_key(Direction::ClientToServer);
    let frame = sealed(&mut key, &samples()[0]);
    let limits = FrameLimits::default();
    let opener = || secret().hello_key(Direction::ClientToServer);

    assert!(matches!(
        opener().open(&frame[..5], limits),
        Err(WireError::Truncated(_))
    ));
    assert!(matches!(
        opener().open(&frame[..frame.len() - 1], limits),
        Err(WireError::Truncated(_))
    ));
    let mut longer = frame.clone();
    longer.push(0);
    assert!(matches!(
        opener().open(&longer, limits),
        Err(WireError::Malformed { .. })
    ));

    let mut bad = frame.clone();
    bad[0] = b'X';
    assert!(matches!(opener().open(&bad, limits), Err(WireError::BadMagic)));
    let mut bad = frame.clone();
    bad[2] = 9;
    assert!(matches!(
        opener().open(&bad, limits),
        Err(WireError::UnsupportedVersion(9))
    ));
    let mut bad = frame.clone();
    bad[3] = 77;
    assert!(matches!(opener().open(&bad, limits), Err(WireError::UnknownKind(77))));

    let small = FrameLimits { max_body: 8 };
    let err = opener().open(&frame, small).expect_err("oversized");
    assert!(matches!(err, WireError::Oversized { max: 8, .. }), "{err}");
    let mut huge = frame.clone();
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(opener().open(&huge, limits), Err(WireError::Oversized { .. })));
}

#[test]
fn malformed_bodies_are_refused() {
    let cases: [(FrameKind, &[u8]); 9] = [
        (FrameKind::Hello, &[1, 2, 3]),
        (FrameKind::Welcome, &[0; 16]),
        // One entry announced, none present.
        (FrameKind::Events, &[1]),
        // A key that is not UTF-8.
        (FrameKind::Events, &[1, 1, 0xff, 1, 1, 1]),
        // A zero limit.
        (FrameKind::Events, &[1, 1, b'k', 0, 1, 1]),
        // An 11-byte varint.
        (
            FrameKind::Decisions,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
        // throttled = 2.
        (FrameKind::Decisions, &[1, 1, b'k', 2, 0]),
        // Bytes after the last item.
        (FrameKind::SyncRequest, &[0]),
        // A key longer than allowed.
        (FrameKind::SyncState, &[1, 0x81, 0x40]),
    ];
    for (kind, body) in cases {
        let err = Message::decode(kind, body).expect_err("malformed");
        assert!(matches!(err, WireError::Malformed { .. }), "{kind:?} {body:?}: {err}");
    }
    assert!(
        EventsView::parse(&[2, 1, b'a', 1, 1, 1]).is_err(),
        "a short batch is refused whole"
    );
}

#[test]
fn random_bytes_never_panic_and_are_refused() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(19);
    let limits = FrameLimits { max_body: 4096 };
    for round in 0..20_000 {
        let len = rng.random_range(0..200);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if round % 2 == 0 && bytes.len() >= HEADER_LEN {
            // A plausible header, so the tag and body checks run too.
            bytes[..4].copy_from_slice(&[b'P', b'T', VERSION, rng.random_range(1..=6)]);
            let body_len = (bytes.len() - HEADER_LEN).saturating_sub(TAG_LEN) as u32;
            bytes[4..8].copy_from_slice(&body_len.to_le_bytes());
        }
        let mut key = secret().session_key(Direction::ServerToClient, &[0; 16], &[0; 16]);
        assert!(key.open(&bytes, limits).is_err());
        // The body decoders alone, on random input.
        for kind in [
            FrameKind::Hello,
            FrameKind::Events,
            FrameKind::Decisions,
            FrameKind::SyncState,
        ] {
            let _ = Message::decode(kind, &bytes);
        }
    }
}

#[test]
fn short_secrets_are_refused() {
    assert!(matches!(ClusterSecret::new(b"short"), Err(WireError::ShortSecret)));
}

#[tokio::test]
async fn frames_cross_a_stream() {
    let s = secret();
    let (mut a, mut b) = tokio::io::duplex(64);
    let mut send_key = s.hello_key(Direction::ClientToServer);
    let messages = samples();
    let to_send = messages.clone();
    let writer = tokio::spawn(async move {
        let mut scratch = Vec::new();
        for m in &to_send {
            write_message(&mut a, &mut send_key, m, &mut scratch)
                .await
                .expect("write");
        }
    });
    let mut recv_key = s.hello_key(Direction::ClientToServer);
    let mut buf = Vec::new();
    for expected in &messages {
        let (kind, body) = read_frame(&mut b, &mut recv_key, FrameLimits::default(), &mut buf)
            .await
            .expect("read");
        assert_eq!(&Message::decode(kind, body).expect("decode"), expected);
    }
    writer.await.expect("writer");
    let end = read_frame(&mut b, &mut recv_key, FrameLimits::default(), &mut buf).await;
    assert!(matches!(end, Err(WireError::Closed)));
}

#[tokio::test]
async fn an_oversized_header_is_refused_before_its_body_is_read() {
    let (mut a, mut b) = tokio::io::duplex(64);
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&[b'P', b'T', VERSION, FrameKind::Events as u8]);
    header[4..].copy_from_slice(&(64u32 << 20).to_le_bytes());
    tokio::io::AsyncWriteExt::write_all(&mut a, &header)
        .await
        .expect("write");
    let mut key = secret().hello_key(Direction::ClientToServer);
    let mut buf = Vec::new();
    let err = read_frame(&mut b, &mut key, FrameLimits::default(), &mut buf)
        .await
        .expect_err("oversized");
    assert!(matches!(err, WireError::Oversized { .. }));
    assert!(
        buf.capacity() < 1 << 20,
        "no buffer was allocated for the announced body"
    );
}

#[test]
fn long_lists_are_cut_into_bodies_under_the_limit() {
    let decisions: Vec<Decision> = (0..300)
        .map(|i| Decision {
            key: format!("{i}:{}", "k".repeat(1000)),
            throttled: true,
            until_ms: 60_000,
        })
        .collect();
    let max_body = 64 * 1024;
    let bodies = body::encode_chunked(&decisions, max_body, body::put_decision);
    assert!(bodies.len() > 1);
    let mut back = Vec::new();
    for b in &bodies {
        assert!(b.len() <= max_body, "{} bytes", b.len());
        let Message::Decisions(list) = Message::decode(FrameKind::Decisions, b).expect("decode") else {
            panic!("not decisions");
        };
        back.extend(list);
    }
    assert_eq!(back, decisions);
    let empty = body::encode_chunked::<Decision>(&[], max_body, body::put_decision);
    assert_eq!(empty, [vec![0u8]], "no items: one empty list");
}
