//! A unary gRPC client that writes its own HTTP/2 frames, for the write
//! benchmark.
//!
//! The load generator shares the machine's two cores with the cluster it
//! measures, so every microsecond it spends per call is taken from the
//! members: with the `h2` crate (`--client lean`) it still used ≈ 10 µs of
//! CPU per call, a fifth of all the CPU a write cost. A benchmark client
//! needs far less of HTTP/2 than a general one: it only sends requests
//! whose header block never changes, so this one builds that block once,
//! writes each call as one HEADERS and one DATA frame into a buffer its
//! writer task flushes for many calls at once, and reads replies with a
//! plain frame parser and an HPACK decoder (`loona-hpack`; the member's
//! replies use HPACK's dynamic table and Huffman coding).
//!
//! What it honours of RFC 9113, so the member sees an ordinary client: the
//! server's concurrent-stream limit and connection send window (calls wait
//! for room), SETTINGS and PING acknowledgements, GOAWAY and RST_STREAM
//! (the affected calls fail with the reason), CONTINUATION frames and
//! padding. It opens its receive windows to the maximum and tops the
//! connection's up as replies arrive. It does not do TLS, server push
//! (disabled in its SETTINGS), or request bodies larger than one frame.

use super::lean::{CallError, decode, status_error};
use anyhow::{Context as _, Result, bail};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, oneshot};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
const SETTINGS_ENABLE_PUSH: u16 = 0x2;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;

/// The largest flow-control window HTTP/2 allows; ours, for every stream
/// and the connection.
const MAX_WINDOW: u32 = (1 << 31) - 1;
/// Every window's size before SETTINGS or WINDOW_UPDATE change it.
const DEFAULT_WINDOW: i64 = 65_535;
/// The largest frame either side may send before SETTINGS raise it; this
/// client never raises its own.
const DEFAULT_MAX_FRAME: usize = 16_384;
/// How long `connect` waits for the member's SETTINGS.
const SETTINGS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the member may stay silent while calls wait for it before the
/// connection is given up (and those calls fail) rather than left hanging.
const SILENCE: Duration = Duration::from_secs(30);
/// Reply bytes after which the connection's receive window is topped up.
const WINDOW_REFILL: u32 = 1 << 30;

/// One HTTP/2 connection to a member; clones share it.
#[derive(Clone)]
pub struct FramesClient {
    handle: Arc<Handle>,
}

/// Closes the connection when the last clone goes.
struct Handle {
    conn: Arc<Conn>,
    /// `:authority` and `authorization` (`Bearer <token>`) of every call.
    authority: Vec<u8>,
    authorization: Vec<u8>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.conn.close("the client was dropped".into());
    }
}

/// What the calls, the reader and the writer share.
struct Conn {
    state: Mutex<State>,
    /// Wakes the writer: `State::out` has frames, or the connection closed.
    write: Notify,
    /// Wakes calls waiting for a stream slot or send window.
    room: Notify,
}

struct State {
    /// Frames waiting for the writer.
    out: BytesMut,
    next_stream: u32,
    /// Calls in flight, and the server's limit on them.
    open: usize,
    max_open: usize,
    /// The connection's send window.
    send_window: i64,
    /// Each new stream's send window (the server's INITIAL_WINDOW_SIZE).
    stream_window: i64,
    /// The largest frame the server accepts.
    max_frame: usize,
    calls: HashMap<u32, Call>,
    /// The request headers' encoder, and the buffer a block is built in.
    hpack: Encoder,
    block: Vec<u8>,
    /// Why the connection can take no more calls.
    closed: Option<String>,
}

struct Call {
    reply: oneshot::Sender<Result<Bytes, CallError>>,
    /// The reply's first HEADERS (`:status`) arrived.
    answered: bool,
    message: BytesMut,
}

impl Conn {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock still holds
        // consistent state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails every call in flight and all later ones with `reason`.
    fn close(&self, reason: String) {
        let calls = {
            let mut st = self.lock();
            st.closed.get_or_insert(reason.clone());
            std::mem::take(&mut st.calls)
        };
        for (_, call) in calls {
            let _ = call
                .reply
                .send(Err(CallError(format!("connection closed: {reason}"))));
        }
        self.room.notify_waiters();
        self.write.notify_one();
    }

    /// Queues a frame for the writer.
    fn queue(&self, st: &mut State, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        put_frame(&mut st.out, kind, flags, stream, payload);
        self.write.notify_one();
    }

    /// Ends call `stream` with `result`, if it is still in flight.
    fn finish(&self, st: &mut State, stream: u32, result: Result<Bytes, CallError>) {
        if let Some(call) = st.calls.remove(&stream) {
            st.open -= 1;
            let _ = call.reply.send(result);
            self.room.notify_waiters();
        }
    }
}

impl FramesClient {
    /// Opens a connection to `addr` (HOST:PORT, plain HTTP/2) whose calls
    /// carry `token` as their bearer token, once the member's SETTINGS
    /// have arrived.
    pub async fn connect(addr: &str, token: &str) -> Result<FramesClient> {
        Self::connect_with(addr, token, SILENCE).await
    }

    /// `connect`, giving up the connection when the member stays silent
    /// for `silence` while calls wait.
    async fn connect_with(addr: &str, token: &str, silence: Duration) -> Result<FramesClient> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to {addr}"))?;
        tcp.set_nodelay(true)?;
        let (read, mut write) = tcp.into_split();

        let mut hello = BytesMut::from(PREFACE);
        let mut settings = BytesMut::new();
        for (id, value) in [
            (SETTINGS_ENABLE_PUSH, 0),
            (SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW),
        ] {
            settings.put_u16(id);
            settings.put_u32(value);
        }
        put_frame(&mut hello, SETTINGS, 0, 0, &settings);
        put_frame(
            &mut hello,
            WINDOW_UPDATE,
            0,
            0,
            &(MAX_WINDOW - DEFAULT_WINDOW as u32).to_be_bytes(),
        );
        write
            .write_all(&hello)
            .await
            .with_context(|| format!("HTTP/2 preface to {addr}"))?;

        let conn = Arc::new(Conn {
            state: Mutex::new(State {
                out: BytesMut::with_capacity(64 * 1024),
                next_stream: 1,
                open: 0,
                // Until the member's SETTINGS say otherwise: the spec's
                // initial value is "unlimited"; connect waits for them.
                max_open: usize::MAX,
                send_window: DEFAULT_WINDOW,
                stream_window: DEFAULT_WINDOW,
                max_frame: DEFAULT_MAX_FRAME,
                calls: HashMap::new(),
                hpack: Encoder::new(),
                block: Vec::new(),
                closed: None,
            }),
            write: Notify::new(),
            room: Notify::new(),
        });
        let (settled_tx, settled) = oneshot::channel();
        tokio::spawn(read_frames(conn.clone(), read, settled_tx, silence));
        tokio::spawn(write_frames(conn.clone(), write));
        match tokio::time::timeout(SETTINGS_TIMEOUT, settled).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                let why = conn.lock().closed.clone().unwrap_or_default();
                bail!("{addr} sent no HTTP/2 SETTINGS: {why}");
            }
            Err(_) => {
                conn.close("no SETTINGS".into());
                bail!(
                    "{addr} sent no HTTP/2 SETTINGS within {SETTINGS_TIMEOUT:?}; is it a PAN member?"
                );
            }
        }

        Ok(FramesClient {
            handle: Arc::new(Handle {
                conn,
                authority: addr.as_bytes().to_vec(),
                authorization: format!("Bearer {token}").into_bytes(),
            }),
        })
    }

    /// One unary call of `method` (e.g. `/pan.v1.Fabric/CreateServer`):
    /// the decoded reply, or the status the member answered.
    pub async fn unary<Req: prost::Message, Rep: prost::Message + Default>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<Rep, CallError> {
        let len = request.encoded_len();
        let mut message = Vec::with_capacity(5 + len);
        message.put_u8(0);
        message.put_u32(u32::try_from(len).map_err(|_| CallError("request too large".into()))?);
        request
            .encode(&mut message)
            .map_err(|e| CallError(e.to_string()))?;
        let handle = &self.handle;
        let fields = Fields {
            authority: &handle.authority,
            path: method.as_bytes(),
            authorization: &handle.authorization,
        };
        let conn = &handle.conn;
        let reply = loop {
            let room = conn.room.notified();
            {
                let mut st = conn.lock();
                if let Some(why) = &st.closed {
                    return Err(CallError(format!("connection closed: {why}")));
                }
                let size = message.len() as i64;
                if fields.most() > st.max_frame || message.len() > st.max_frame {
                    return Err(CallError(format!(
                        "a request of up to {} header and {} message bytes does not fit one \
                         {}-byte HTTP/2 frame",
                        fields.most(),
                        message.len(),
                        st.max_frame
                    )));
                }
                if size > st.stream_window {
                    return Err(CallError(format!(
                        "the member's stream window ({} bytes) is smaller than a \
                         {size}-byte request",
                        st.stream_window
                    )));
                }
                if st.open < st.max_open && st.send_window >= size {
                    let stream = st.next_stream;
                    st.next_stream += 2;
                    st.open += 1;
                    st.send_window -= size;
                    let (tx, rx) = oneshot::channel();
                    st.calls.insert(
                        stream,
                        Call {
                            reply: tx,
                            answered: false,
                            message: BytesMut::new(),
                        },
                    );
                    // Encoded in the order the frames go out, as the
                    // member's HPACK table follows that order.
                    let mut block = std::mem::take(&mut st.block);
                    block.clear();
                    st.hpack.encode(&fields, &mut block);
                    conn.queue(&mut st, HEADERS, END_HEADERS, stream, &block);
                    st.block = block;
                    conn.queue(&mut st, DATA, END_STREAM, stream, &message);
                    break rx;
                }
            }
            room.await;
        };
        let message = reply
            .await
            .map_err(|_| CallError("the connection's reader stopped".into()))??;
        decode(message)
    }
}

/// Sends what the calls queued, many calls' frames per write.
async fn write_frames(conn: Arc<Conn>, mut write: OwnedWriteHalf) {
    loop {
        conn.write.notified().await;
        let (frames, closed) = {
            let mut st = conn.lock();
            (st.out.split(), st.closed.is_some())
        };
        if !frames.is_empty()
            && let Err(e) = write.write_all(&frames).await
        {
            conn.close(format!("write failed: {e}"));
            return;
        }
        if closed {
            let _ = write.shutdown().await;
            return;
        }
    }
}

/// Reads the member's frames until the connection ends; `settled` fires
/// once its first SETTINGS are applied.
async fn read_frames(
    conn: Arc<Conn>,
    mut read: OwnedReadHalf,
    settled: oneshot::Sender<()>,
    silence: Duration,
) {
    let mut reader = Reader {
        hpack: loona_hpack::Decoder::new(),
        block: None,
        received: 0,
        settled: Some(settled),
    };
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut silent_ticks = 0;
    let reason = loop {
        match reader.frames(&conn, &mut buf) {
            Ok(()) => {}
            Err(why) => break why,
        }
        // Woken every half `silence`: given up once two such ticks in a
        // row found calls waiting and no byte had arrived.
        match tokio::time::timeout(silence / 2, read.read_buf(&mut buf)).await {
            Ok(Ok(0)) => break "the member closed it".to_string(),
            Ok(Ok(_)) => silent_ticks = 0,
            Ok(Err(e)) => break format!("read failed: {e}"),
            Err(_) => {
                let waiting = conn.lock().open;
                silent_ticks = if waiting == 0 { 0 } else { silent_ticks + 1 };
                if silent_ticks >= 2 {
                    break format!(
                        "the member sent nothing for {silence:?} while {waiting} calls waited"
                    );
                }
            }
        }
    };
    conn.close(reason);
}

struct Reader {
    hpack: loona_hpack::Decoder<'static>,
    /// A header block that CONTINUATION frames are still adding to: its
    /// stream, its HEADERS flags, and its bytes so far.
    block: Option<(u32, u8, BytesMut)>,
    /// Reply bytes since the connection window was last topped up.
    received: u32,
    settled: Option<oneshot::Sender<()>>,
}

impl Reader {
    /// Handles every whole frame in `buf`; an error is a protocol breach
    /// that ends the connection.
    fn frames(&mut self, conn: &Conn, buf: &mut BytesMut) -> Result<(), String> {
        while buf.len() >= 9 {
            let len = usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
            if len > DEFAULT_MAX_FRAME {
                return Err(format!(
                    "the member sent a {len}-byte frame; this client allows {DEFAULT_MAX_FRAME}"
                ));
            }
            if buf.len() < 9 + len {
                buf.reserve(9 + len - buf.len());
                return Ok(());
            }
            let mut head = buf.split_to(9);
            let payload = buf.split_to(len);
            head.advance(3);
            let kind = head.get_u8();
            let flags = head.get_u8();
            let stream = head.get_u32() & 0x7fff_ffff;
            if let Some((expected, _, _)) = &self.block
                && (kind != CONTINUATION || stream != *expected)
            {
                return Err(format!(
                    "frame type {kind} on stream {stream} inside stream {expected}'s header block"
                ));
            }
            self.frame(conn, kind, flags, stream, payload)?;
        }
        Ok(())
    }

    fn frame(
        &mut self,
        conn: &Conn,
        kind: u8,
        flags: u8,
        stream: u32,
        mut payload: BytesMut,
    ) -> Result<(), String> {
        match kind {
            DATA => {
                self.received += payload.len() as u32;
                let data = unpad(flags, payload)?;
                let mut st = conn.lock();
                if self.received >= WINDOW_REFILL {
                    conn.queue(&mut st, WINDOW_UPDATE, 0, 0, &self.received.to_be_bytes());
                    self.received = 0;
                }
                if let Some(call) = st.calls.get_mut(&stream) {
                    call.message.extend_from_slice(&data);
                    if flags & END_STREAM != 0 {
                        conn.finish(
                            &mut st,
                            stream,
                            Err(CallError("reply without trailers".into())),
                        );
                    }
                }
            }
            HEADERS => {
                let mut block = unpad(flags, payload)?;
                if flags & PRIORITY != 0 {
                    if block.len() < 5 {
                        return Err("HEADERS frame too short for its priority".into());
                    }
                    block.advance(5);
                }
                if flags & END_HEADERS != 0 {
                    self.headers(conn, stream, flags, &block)?;
                } else {
                    self.block = Some((stream, flags, block));
                }
            }
            CONTINUATION => {
                let Some((_, _, block)) = &mut self.block else {
                    return Err(format!("CONTINUATION on stream {stream} after no HEADERS"));
                };
                block.extend_from_slice(&payload);
                if flags & END_HEADERS != 0 {
                    let (stream, first, block) = self.block.take().expect("checked above");
                    self.headers(conn, stream, first, &block)?;
                }
            }
            RST_STREAM => {
                if payload.len() != 4 {
                    return Err("RST_STREAM frame of the wrong size".into());
                }
                let code = payload.get_u32();
                let mut st = conn.lock();
                conn.finish(
                    &mut st,
                    stream,
                    Err(CallError(format!(
                        "the member reset the call (HTTP/2 error {code})"
                    ))),
                );
            }
            SETTINGS if flags & ACK == 0 => {
                if !payload.len().is_multiple_of(6) {
                    return Err("SETTINGS frame of the wrong size".into());
                }
                let mut st = conn.lock();
                while payload.has_remaining() {
                    let id = payload.get_u16();
                    let value = payload.get_u32();
                    match id {
                        SETTINGS_MAX_CONCURRENT_STREAMS => st.max_open = value as usize,
                        SETTINGS_INITIAL_WINDOW_SIZE => st.stream_window = i64::from(value),
                        SETTINGS_MAX_FRAME_SIZE => st.max_frame = value as usize,
                        SETTINGS_HEADER_TABLE_SIZE => st.hpack.set_max(value as usize),
                        _ => {}
                    }
                }
                conn.queue(&mut st, SETTINGS, ACK, 0, &[]);
                drop(st);
                conn.room.notify_waiters();
                if let Some(settled) = self.settled.take() {
                    let _ = settled.send(());
                }
            }
            SETTINGS => {}
            PING if flags & ACK == 0 => {
                let mut st = conn.lock();
                conn.queue(&mut st, PING, ACK, 0, &payload);
            }
            PING => {}
            GOAWAY => {
                if payload.len() < 8 {
                    return Err("GOAWAY frame too short".into());
                }
                let last = payload.get_u32() & 0x7fff_ffff;
                let code = payload.get_u32();
                let why = format!(
                    "the member sent GOAWAY (HTTP/2 error {code}: {})",
                    String::from_utf8_lossy(&payload)
                );
                let mut st = conn.lock();
                st.closed.get_or_insert(why.clone());
                let unanswered: Vec<u32> = st.calls.keys().copied().filter(|s| *s > last).collect();
                for s in unanswered {
                    conn.finish(&mut st, s, Err(CallError(why.clone())));
                }
            }
            WINDOW_UPDATE => {
                if payload.len() != 4 {
                    return Err("WINDOW_UPDATE frame of the wrong size".into());
                }
                let increment = payload.get_u32() & 0x7fff_ffff;
                // Each call sends one DATA frame no larger than a new
                // stream's window, so only the connection's window matters.
                if stream == 0 {
                    conn.lock().send_window += i64::from(increment);
                    conn.room.notify_waiters();
                }
            }
            PUSH_PROMISE => return Err("PUSH_PROMISE although push is disabled".into()),
            // PRIORITY and unknown frame types carry nothing a client needs.
            _ => {}
        }
        Ok(())
    }

    /// A complete header block on `stream`: a reply's headers or its
    /// trailers. Every block is decoded, even for calls no longer in
    /// flight, to keep HPACK's dynamic table in step with the member's.
    fn headers(&mut self, conn: &Conn, stream: u32, flags: u8, block: &[u8]) -> Result<(), String> {
        let mut status = None;
        let mut grpc_status = None;
        let mut grpc_message = None;
        self.hpack
            .decode_with_cb(block, |name, value| match &*name {
                b":status" => status = Some(value.into_owned()),
                b"grpc-status" => grpc_status = Some(value.into_owned()),
                b"grpc-message" => grpc_message = Some(value.into_owned()),
                _ => {}
            })
            .map_err(|e| format!("undecodable header block on stream {stream}: {e:?}"))?;
        let mut st = conn.lock();
        let Some(call) = st.calls.get_mut(&stream) else {
            return Ok(());
        };
        let end = flags & END_STREAM != 0;
        if !call.answered {
            call.answered = true;
            if status.as_deref() != Some(b"200") {
                let status = text(&status).unwrap_or_default().into_owned();
                conn.finish(
                    &mut st,
                    stream,
                    Err(CallError(format!("HTTP status {status}"))),
                );
                return Ok(());
            }
            if !end {
                return Ok(());
            }
            // A trailers-only reply: the status is in these headers.
        } else if !end {
            return Err(format!(
                "a second header block on stream {stream} that does not end it"
            ));
        }
        let result = match text(&grpc_status).as_deref() {
            Some("0") => Ok(std::mem::take(&mut call.message).freeze()),
            Some(code) => Err(status_error(code, &text(&grpc_message).unwrap_or_default())),
            None => Err(CallError("reply without grpc-status".into())),
        };
        conn.finish(&mut st, stream, result);
        Ok(())
    }
}

/// The header fields of one request that vary by connection or method.
struct Fields<'a> {
    authority: &'a [u8],
    path: &'a [u8],
    authorization: &'a [u8],
}

impl Fields<'_> {
    /// `:method POST` and `:scheme http`, whole entries of HPACK's static
    /// table (indices 3 and 6), which every block starts with.
    const STATIC: [u8; 2] = [0x80 | 3, 0x80 | 6];

    /// The other fields as `(static table index of the name, name, value)`,
    /// in the order they are sent (pseudo-headers first).
    fn each(&self) -> [(Option<u8>, &[u8], &[u8]); 5] {
        [
            (Some(1), b":authority", self.authority),
            (Some(4), b":path", self.path),
            (Some(31), b"content-type", b"application/grpc"),
            (None, b"te", b"trailers"),
            (Some(23), b"authorization", self.authorization),
        ]
    }

    /// The largest block these fields encode to (all literals, plus two
    /// table size updates).
    fn most(&self) -> usize {
        8 + Self::STATIC.len()
            + self
                .each()
                .iter()
                .map(|(_, name, value)| 1 + 5 + name.len() + 5 + value.len())
                .sum::<usize>()
    }
}

/// HPACK encoding of requests with the member's dynamic table (RFC 7541
/// §2.3): each field is sent once as a literal with incremental indexing
/// and referred to by its one-byte index from then on, so the member
/// decodes no strings for most requests. Nothing is ever evicted: a field
/// that does not fit in the table the member allows goes as a plain literal.
struct Encoder {
    /// The fields in the member's dynamic table, oldest first.
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Their HPACK size, and the largest the member allows.
    size: usize,
    max: usize,
    /// The member changed its HEADER_TABLE_SIZE: the next block empties
    /// the table and announces the new size.
    resized: bool,
}

impl Encoder {
    fn new() -> Encoder {
        Encoder {
            entries: Vec::new(),
            size: 0,
            max: 4096,
            resized: false,
        }
    }

    fn set_max(&mut self, max: usize) {
        self.max = max;
        self.resized = true;
        self.entries.clear();
        self.size = 0;
    }

    fn encode(&mut self, fields: &Fields<'_>, out: &mut Vec<u8>) {
        if self.resized {
            self.resized = false;
            integer(out, 0x20, 5, 0);
            integer(out, 0x20, 5, self.max);
        }
        out.extend_from_slice(&Fields::STATIC);
        for (index, name, value) in fields.each() {
            if let Some(at) = self
                .entries
                .iter()
                .rposition(|(n, v)| n == name && v == value)
            {
                // The newest entry is index 62, after the static table.
                integer(out, 0x80, 7, 62 + self.entries.len() - 1 - at);
                continue;
            }
            let cost = 32 + name.len() + value.len();
            if self.size + cost > self.max {
                literal(out, index, name, value);
                continue;
            }
            match index {
                Some(i) => integer(out, 0x40, 6, usize::from(i)),
                None => {
                    out.push(0x40);
                    integer(out, 0, 7, name.len());
                    out.extend_from_slice(name);
                }
            }
            integer(out, 0, 7, value.len());
            out.extend_from_slice(value);
            self.entries.push((name.to_vec(), value.to_vec()));
            self.size += cost;
        }
    }
}

/// A decoded header value as text.
fn text(value: &Option<Vec<u8>>) -> Option<std::borrow::Cow<'_, str>> {
    value.as_deref().map(String::from_utf8_lossy)
}

/// Appends one frame.
fn put_frame(out: &mut BytesMut, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.put_slice(&len.to_be_bytes()[1..]);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream);
    out.put_slice(payload);
}

/// A DATA or HEADERS payload without its padding.
fn unpad(flags: u8, mut payload: BytesMut) -> Result<BytesMut, String> {
    if flags & PADDED == 0 {
        return Ok(payload);
    }
    if payload.is_empty() {
        return Err("padded frame without a pad length".into());
    }
    let pad = usize::from(payload.get_u8());
    if pad > payload.len() {
        return Err("frame padding longer than the frame".into());
    }
    payload.truncate(payload.len() - pad);
    Ok(payload)
}

/// Appends an HPACK "literal header field without indexing" (RFC 7541
/// §6.2.2): with the static table's name `index`, or else `name` itself;
/// the value as a plain (not Huffman-coded) string.
fn literal(out: &mut impl bytes::BufMut, index: Option<u8>, name: &[u8], value: &[u8]) {
    match index {
        Some(i) => integer(out, 0x00, 4, usize::from(i)),
        None => {
            out.put_u8(0x00);
            integer(out, 0x00, 7, name.len());
            out.put_slice(name);
        }
    }
    integer(out, 0x00, 7, value.len());
    out.put_slice(value);
}

/// Appends an HPACK integer (RFC 7541 §5.1) in a `prefix`-bit prefix after
/// the bits `first`.
fn integer(out: &mut impl bytes::BufMut, first: u8, prefix: u32, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.put_u8(first | value as u8);
        return;
    }
    out.put_u8(first | max as u8);
    value -= max;
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use pan_api::v1::{CreatePartitionRequest, CreateServerRequest, Server};
    use prost::Message as _;
    use tokio::net::TcpListener;

    /// One frame as a fake member reads it.
    struct Frame {
        kind: u8,
        flags: u8,
        stream: u32,
        payload: Vec<u8>,
    }

    async fn read_frame(tcp: &mut TcpStream) -> Frame {
        let mut head = [0u8; 9];
        tcp.read_exact(&mut head).await.expect("frame head");
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await.expect("frame payload");
        Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload,
        }
    }

    async fn send(tcp: &mut TcpStream, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let mut out = BytesMut::new();
        put_frame(&mut out, kind, flags, stream, payload);
        tcp.write_all(&out).await.expect("write frame");
    }

    /// A fake member on loopback: its address, and its side of the first
    /// connection once the client's preface and SETTINGS are read and
    /// `settings` sent.
    async fn fake_member(
        settings: Vec<(u16, u32)>,
    ) -> (String, tokio::task::JoinHandle<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let member = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut preface = [0u8; 24];
            tcp.read_exact(&mut preface).await.unwrap();
            assert_eq!(&preface[..], PREFACE);
            let first = read_frame(&mut tcp).await;
            assert_eq!(
                (first.kind, first.flags),
                (SETTINGS, 0),
                "SETTINGS come first"
            );
            let mut payload = Vec::new();
            for (id, value) in settings {
                payload.extend_from_slice(&id.to_be_bytes());
                payload.extend_from_slice(&value.to_be_bytes());
            }
            send(&mut tcp, SETTINGS, 0, 0, &payload).await;
            tcp
        });
        (addr, member)
    }

    /// Reads frames up to and including the DATA that ends a request;
    /// returns its stream and every HEADERS stream seen on the way.
    async fn read_request(tcp: &mut TcpStream) -> (u32, Vec<u32>) {
        let mut opened = Vec::new();
        loop {
            let f = read_frame(tcp).await;
            match f.kind {
                HEADERS => opened.push(f.stream),
                DATA if f.flags & END_STREAM != 0 => return (f.stream, opened),
                _ => {}
            }
        }
    }

    fn grpc_message(server: &Server) -> Vec<u8> {
        let mut out = vec![0u8];
        out.extend_from_slice(&(server.encoded_len() as u32).to_be_bytes());
        server.encode(&mut out).unwrap();
        out
    }

    /// Header block: `:status 200` (static index 8) and `fields`.
    fn block(status: bool, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        if status {
            out.push(0x80 | 8);
        }
        for (name, value) in fields {
            literal(&mut out, None, name.as_bytes(), value.as_bytes());
        }
        out
    }

    fn request(name: &str) -> CreateServerRequest {
        CreateServerRequest {
            name: name.to_string(),
            partition: "bench".to_string(),
            nics: 1,
            ..Default::default()
        }
    }

    const METHOD: &str = "/pan.v1.Fabric/CreateServer";

    #[tokio::test]
    async fn honours_the_stream_limit_and_reads_replies_errors_resets_and_goaway() {
        let (addr, member) = fake_member(vec![(SETTINGS_MAX_CONCURRENT_STREAMS, 1)]).await;
        let client = FramesClient::connect(&addr, "secret").await.unwrap();
        let mut tcp = member.await.unwrap();

        let (a, b) = (client.clone(), client.clone());
        let call_a = tokio::spawn(async move { a.unary::<_, Server>(METHOD, &request("a")).await });
        let call_b = tokio::spawn(async move { b.unary::<_, Server>(METHOD, &request("b")).await });
        // Both calls have run once (tasks run in spawn order on this
        // runtime) when the first holds the only stream.
        while client.handle.conn.lock().open == 0 {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;

        // The client's SETTINGS ACK, then the first request alone: a PING
        // round trip shows nothing else was queued behind it.
        let (first, mut opened) = read_request(&mut tcp).await;
        send(&mut tcp, PING, 0, 0, b"12345678").await;
        loop {
            let f = read_frame(&mut tcp).await;
            if f.kind == HEADERS {
                opened.push(f.stream);
            }
            if f.kind == PING {
                assert_eq!(f.flags, ACK);
                assert_eq!(f.payload, b"12345678");
                break;
            }
        }
        assert_eq!(
            opened,
            vec![first],
            "a second stream opened past the limit of 1"
        );

        // Reply to the first: headers, message, trailers.
        let reply = Server {
            name: "a".into(),
            ..Default::default()
        };
        send(
            &mut tcp,
            HEADERS,
            END_HEADERS,
            first,
            &block(true, &[("content-type", "application/grpc")]),
        )
        .await;
        send(&mut tcp, DATA, 0, first, &grpc_message(&reply)).await;
        send(
            &mut tcp,
            HEADERS,
            END_HEADERS | END_STREAM,
            first,
            &block(false, &[("grpc-status", "0")]),
        )
        .await;
        // The second is answered trailers-only, in two pieces.
        let (second, _) = read_request(&mut tcp).await;
        assert_eq!(second, first + 2);
        let refusal = block(
            true,
            &[("grpc-status", "6"), ("grpc-message", "server b exists")],
        );
        let (one, two) = refusal.split_at(3);
        send(&mut tcp, HEADERS, END_STREAM, second, one).await;
        send(&mut tcp, CONTINUATION, END_HEADERS, second, two).await;

        let (done_a, done_b) = (call_a.await.unwrap(), call_b.await.unwrap());
        assert_eq!(done_a.unwrap().name, "a");
        let refused = done_b.unwrap_err().0;
        assert!(
            refused.contains("exists") && refused.contains("server b exists"),
            "{refused}"
        );

        // A reset call fails with the reason.
        let c = client.clone();
        let call_c = tokio::spawn(async move { c.unary::<_, Server>(METHOD, &request("c")).await });
        let (third, _) = read_request(&mut tcp).await;
        send(&mut tcp, RST_STREAM, 0, third, &2u32.to_be_bytes()).await;
        let reset = call_c.await.unwrap().unwrap_err().0;
        assert!(reset.contains("reset the call (HTTP/2 error 2)"), "{reset}");

        // GOAWAY fails the calls it did not take and every later one.
        let d = client.clone();
        let call_d = tokio::spawn(async move { d.unary::<_, Server>(METHOD, &request("d")).await });
        let (fourth, _) = read_request(&mut tcp).await;
        let mut goaway = third.to_be_bytes().to_vec();
        goaway.extend_from_slice(&0u32.to_be_bytes());
        goaway.extend_from_slice(b"restarting");
        send(&mut tcp, GOAWAY, 0, 0, &goaway).await;
        let gone = call_d.await.unwrap().unwrap_err().0;
        assert!(
            gone.contains("GOAWAY") && gone.contains("restarting"),
            "{gone} ({fourth})"
        );
        let later = client
            .unary::<_, Server>(METHOD, &request("e"))
            .await
            .unwrap_err()
            .0;
        assert!(later.contains("connection closed"), "{later}");
    }

    #[tokio::test]
    async fn a_silent_member_fails_the_calls_waiting_for_it() {
        let (addr, member) = fake_member(vec![]).await;
        let client = FramesClient::connect_with(&addr, "secret", Duration::from_millis(200))
            .await
            .unwrap();
        let _tcp = member.await.unwrap();
        let outcome = tokio::time::timeout(
            Duration::from_secs(10),
            client.unary::<_, Server>(METHOD, &request("a")),
        )
        .await
        .expect("the call failed instead of hanging");
        let why = outcome.unwrap_err().0;
        assert!(
            why.contains("sent nothing") && why.contains("1 calls waited"),
            "{why}"
        );
    }

    #[tokio::test]
    async fn talks_to_a_real_member() {
        let cluster = pan_tests::Cluster::start(1, &[]).await.unwrap();
        let addr = cluster.addr(1);
        cluster
            .client(1)
            .await
            .unwrap()
            .create_partition(CreatePartitionRequest {
                name: "bench".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let token = cluster.admin_token().unwrap();
        let client = FramesClient::connect(&addr, &token).await.unwrap();

        // Many calls in flight on one connection, each answered with the
        // server it asked for (the reply HEADERS use HPACK's dynamic table
        // and Huffman coding from the second reply on).
        let calls: Vec<_> = (0..300)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move {
                    let name = format!("s{i}");
                    let reply: Server = client.unary(METHOD, &request(&name)).await?;
                    Ok::<_, CallError>((name, reply))
                })
            })
            .collect();
        for call in calls {
            let (name, reply) = call.await.unwrap().unwrap();
            assert_eq!(reply.name, name);
            assert_eq!(reply.partition, "bench");
        }

        let again = client
            .unary::<_, Server>(METHOD, &request("s7"))
            .await
            .unwrap_err()
            .0;
        assert!(
            again.contains("server 's7' in partition 'bench' already exists"),
            "{again}"
        );
        let unknown = client
            .unary::<_, Server>("/pan.v1.Fabric/NoSuchCall", &request("x"))
            .await
            .unwrap_err()
            .0;
        assert!(unknown.contains("not implemented"), "{unknown}");
        let stranger = FramesClient::connect(&addr, "not-a-token").await.unwrap();
        let refused = stranger
            .unary::<_, Server>(METHOD, &request("y"))
            .await
            .unwrap_err()
            .0;
        assert!(
            refused.contains("the bearer token is malformed"),
            "{refused}"
        );
    }

    #[test]
    fn integers_follow_rfc_7541_appendix_c1() {
        // C.1.1: 10 in a 5-bit prefix; C.1.2: 1337 in a 5-bit prefix.
        let mut out = Vec::new();
        integer(&mut out, 0, 5, 10);
        assert_eq!(out, [0b01010]);
        out.clear();
        integer(&mut out, 0, 5, 1337);
        assert_eq!(out, [0b11111, 0b1001_1010, 0b0000_1010]);
        out.clear();
        integer(&mut out, 0, 4, 31);
        assert_eq!(out, [0x0f, 0x10]);
    }

    #[test]
    fn request_headers_are_indexed_after_the_first_and_decode_to_what_was_meant() {
        let fields = Fields {
            authority: b"127.0.0.1:7001",
            path: b"/pan.v1.Fabric/CreateServer",
            authorization: b"Bearer secret",
        };
        let expected: Vec<(Vec<u8>, Vec<u8>)> = [
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "127.0.0.1:7001"),
            (":path", "/pan.v1.Fabric/CreateServer"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("authorization", "Bearer secret"),
        ]
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
        let mut encoder = Encoder::new();
        let mut decoder = loona_hpack::Decoder::new();
        let mut blocks = Vec::new();
        for round in 0..4 {
            if round == 2 {
                // The member changes its table size: emptied and resent.
                encoder.set_max(1024);
            }
            let mut block = Vec::new();
            encoder.encode(&fields, &mut block);
            assert!(block.len() <= fields.most());
            let mut decoded = Vec::new();
            decoder
                .decode_with_cb(&block, |n, v| {
                    decoded.push((n.into_owned(), v.into_owned()))
                })
                .unwrap();
            assert_eq!(decoded, expected, "round {round}");
            blocks.push(block.len());
        }
        // Literals first, then one byte per field.
        assert_eq!(blocks[1], 7);
        assert!(blocks[0] > 60 && blocks[2] > blocks[0], "{blocks:?}");
        assert_eq!(blocks[3], 7);

        // A table too small for a field sends it as a plain literal, every
        // time, and still decodes.
        let mut tiny = Encoder::new();
        tiny.set_max(40);
        for _ in 0..2 {
            let mut block = Vec::new();
            tiny.encode(&fields, &mut block);
            let mut decoded = Vec::new();
            decoder
                .decode_with_cb(&block, |n, v| {
                    decoded.push((n.into_owned(), v.into_owned()))
                })
                .unwrap();
            assert_eq!(decoded, expected);
        }
    }

    #[test]
    fn padding_is_removed_and_bad_padding_refused() {
        let padded = BytesMut::from(&[2u8, b'h', b'i', 0, 0][..]);
        assert_eq!(&unpad(PADDED, padded).unwrap()[..], b"hi");
        let bad = BytesMut::from(&[9u8, b'h'][..]);
        assert!(unpad(PADDED, bad).is_err());
        assert!(unpad(PADDED, BytesMut::new()).is_err());
    }
}
