//! The Traffic Manager protocol's decoders (portico-throttle's `wire`): a frame opened with the
//! cluster key (header, lengths, tag), and every message body decoder, on arbitrary bytes. The
//! first byte picks the frame kind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_throttle::wire::{ClusterSecret, Direction, EventsView, FrameKind, FrameLimits, Message};

const KINDS: [FrameKind; 6] = [
    FrameKind::Hello,
    FrameKind::Welcome,
    FrameKind::Events,
    FrameKind::Decisions,
    FrameKind::SyncRequest,
    FrameKind::SyncState,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let kind = KINDS[usize::from(pick) % KINDS.len()];
    let _ = Message::decode(kind, body);
    if let Ok(view) = EventsView::parse(body) {
        let listed = view.iter().count();
        assert_eq!(listed, view.len());
    }
    let secret = ClusterSecret::new(b"fuzzing secret of the cluster").expect("secret");
    let mut key = secret.hello_key(Direction::ClientToServer);
    // Without the tag nothing opens; what matters is that the header checks never panic.
    assert!(key.open(body, FrameLimits { max_body: 1 << 16 }).is_err());
});
