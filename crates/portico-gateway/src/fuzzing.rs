//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz), not an API: the request head
//! parser and the chunked decoder are crate-private (their types belong to the connection
//! loop), so these wrappers run them on raw bytes and return only plain facts. Hidden from the
//! docs; nothing else may call them.

use bytes::BytesMut;

/// Parses `data` as a request head (64 KiB limit) and applies the `Host` rules; whether a
/// complete, acceptable head was found.
pub fn request_head(data: &[u8]) -> bool {
    crate::http1::fuzz_request_head(data)
}

/// Decodes `data` as a chunked body delivered in two reads split at `split`; the body's length
/// when it decoded completely, `None` when it failed or needs more.
pub fn chunked_body(data: &[u8], split: usize) -> Option<usize> {
    use crate::http1::body::{ChunkedDecoder, Decoded, Sender};
    let split = split.min(data.len());
    let mut decoder = ChunkedDecoder::new(Sender::Client);
    let mut buf = BytesMut::from(&data[..split]);
    let mut rest = Some(&data[split..]);
    let mut total = 0usize;
    loop {
        match decoder.decode(&mut buf).ok()? {
            Decoded::Data(bytes) => total += bytes.len(),
            Decoded::Done => return Some(total),
            Decoded::NeedMore => match rest.take() {
                Some(more) => buf.extend_from_slice(more),
                None => return None,
            },
        }
    }
}
