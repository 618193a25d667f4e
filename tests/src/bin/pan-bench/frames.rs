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

use super::lean::{CallError, decode, grpc_message, status_error};
use anyhow::{Context as _, Result, bail};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, oneshot, watch};

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
const PRIORITY_FLAG: u8 = 0x20;

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
/// How long the member may leave calls waiting without sending a byte,
/// though PINGed halfway, before the connection is given up (and those
/// calls fail) rather than left hanging. A member that is only slow (a
/// stalled disk) still answers PINGs.
const SILENCE: Duration = Duration::from_secs(30);
/// HTTP/2's error codes this client sends (RFC 9113 §7).
const PROTOCOL_ERROR: u32 = 0x1;
const CANCEL: u32 = 0x8;
/// The largest header block (over CONTINUATION frames) a reply may carry.
const MAX_HEADER_BLOCK: usize = 1 << 20;
/// The HPACK table size this client allows the member (the default; its
/// SETTINGS do not change it).
const DECODER_TABLE: usize = 4096;
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
    /// Wakes the writer: `State::out` has frames.
    write: Notify,
    /// Wakes calls waiting for a stream slot or send window.
    room: Notify,
    /// Turns true when the connection is closed, which ends the reader and
    /// the writer (dropping its half of the socket sends the FIN).
    shut: watch::Sender<bool>,
}

/// The connection's state, behind `Conn::state`.
struct State {
    /// Frames waiting for the writer.
    out: BytesMut,
    /// The id the next call's stream gets (odd, increasing).
    next_stream: u32,
    /// Calls in flight, and the server's limit on them.
    open: usize,
    max_open: usize,
    /// Calls waiting for a stream slot or send window.
    waiting: usize,
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
    /// Why the member takes no new calls (its GOAWAY); those in flight
    /// may still finish.
    draining: Option<String>,
    /// Why the connection is closed.
    closed: Option<String>,
}

/// One call in flight.
struct Call {
    reply: oneshot::Sender<Result<Bytes, CallError>>,
    /// The reply's first HEADERS (`:status`) arrived.
    answered: bool,
    /// The reply's DATA so far.
    message: BytesMut,
}

impl Conn {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock still holds
        // consistent state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the connection: fails every call in flight and all later
    /// ones with `reason`, and stops the reader and the writer.
    fn close(&self, reason: String) {
        self.close_locked(&mut self.lock(), reason);
    }

    fn close_locked(&self, st: &mut State, reason: String) {
        let reason = st.closed.get_or_insert(reason).clone();
        for (_, call) in st.calls.drain() {
            let _ = call
                .reply
                .send(Err(CallError(format!("connection closed: {reason}"))));
        }
        st.open = 0;
        self.room.notify_waiters();
        self.shut.send_replace(true);
    }

    /// Queues a frame for the writer.
    fn queue(&self, st: &mut State, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        put_frame(&mut st.out, kind, flags, stream, payload);
        self.write.notify_one();
    }

    /// Ends call `stream` with `result`, if it is still in flight; a
    /// draining connection closes with its last call.
    fn finish(&self, st: &mut State, stream: u32, result: Result<Bytes, CallError>) {
        if let Some(call) = st.calls.remove(&stream) {
            st.open -= 1;
            let _ = call.reply.send(result);
            self.room.notify_waiters();
        }
        if st.calls.is_empty()
            && let Some(why) = st.draining.clone()
        {
            self.close_locked(st, why);
        }
    }

    /// Ends call `stream` with `error` and resets its stream, which the
    /// member still holds open.
    fn cancel(&self, st: &mut State, stream: u32, code: u32, error: String) {
        self.queue(st, RST_STREAM, 0, stream, &code.to_be_bytes());
        self.finish(st, stream, Err(CallError(error)));
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
        if !token.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            bail!("a token must be printable ASCII");
        }
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
                waiting: 0,
                send_window: DEFAULT_WINDOW,
                stream_window: DEFAULT_WINDOW,
                max_frame: DEFAULT_MAX_FRAME,
                calls: HashMap::new(),
                hpack: Encoder::new(),
                block: Vec::new(),
                draining: None,
                closed: None,
            }),
            write: Notify::new(),
            room: Notify::new(),
            shut: watch::Sender::new(false),
        });
        // From here the handle owns the connection: if this future is
        // dropped or fails, dropping it closes the connection.
        let handle = Arc::new(Handle {
            conn: conn.clone(),
            authority: addr.as_bytes().to_vec(),
            authorization: format!("Bearer {token}").into_bytes(),
        });
        let (settled_tx, settled) = oneshot::channel();
        tokio::spawn(read_frames(conn.clone(), read, settled_tx, silence));
        tokio::spawn(write_frames(conn.clone(), write));
        match tokio::time::timeout(SETTINGS_TIMEOUT, settled).await {
            Ok(Ok(())) => Ok(FramesClient { handle }),
            Ok(Err(_)) => {
                let why = conn.lock().closed.clone().unwrap_or_default();
                bail!("{addr} sent no HTTP/2 SETTINGS: {why}");
            }
            Err(_) => bail!(
                "{addr} sent no HTTP/2 SETTINGS within {SETTINGS_TIMEOUT:?}; is it a PAN member?"
            ),
        }
    }

    /// One unary call of `method` (e.g. `/pan.v1.Fabric/CreateServer`):
    /// the decoded reply, or the status the member answered.
    pub async fn unary<Req: prost::Message, Rep: prost::Message + Default>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<Rep, CallError> {
        let message = grpc_message(request)?;
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
                if let Some(why) = &st.draining {
                    return Err(CallError(format!("the member takes no new calls: {why}")));
                }
                if st.next_stream > 0x7fff_ffff {
                    return Err(CallError(
                        "this connection's stream ids are used up; open another".into(),
                    ));
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
                st.waiting += 1;
            }
            let waited = Waited(conn);
            room.await;
            drop(waited);
        };
        let message = reply
            .await
            .map_err(|_| CallError("the connection's reader stopped".into()))??;
        decode(message)
    }
}

/// Counts a call out of `State::waiting` however its wait ends.
struct Waited<'a>(&'a Conn);

impl Drop for Waited<'_> {
    fn drop(&mut self) {
        self.0.lock().waiting -= 1;
    }
}

/// Sends what the calls queued, many calls' frames per write, until the
/// connection closes (also mid-write, should the member stop reading).
async fn write_frames(conn: Arc<Conn>, mut write: OwnedWriteHalf) {
    let mut shut = conn.shut.subscribe();
    loop {
        // Frames first: a GOAWAY queued as the connection closes still
        // goes out.
        tokio::select! {
            biased;
            _ = conn.write.notified() => {}
            _ = shut.wait_for(|s| *s) => return,
        }
        let frames = conn.lock().out.split();
        if frames.is_empty() {
            continue;
        }
        tokio::select! {
            biased;
            written = write.write_all(&frames) => if let Err(e) = written {
                conn.close(format!("write failed: {e}"));
                return;
            },
            _ = shut.wait_for(|s| *s) => return,
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
    let mut hpack = loona_hpack::Decoder::new();
    hpack.set_max_allowed_table_size(DECODER_TABLE);
    let mut reader = Reader {
        hpack,
        block: None,
        received: 0,
        settled: Some(settled),
    };
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut shut = conn.shut.subscribe();
    let mut heard = Instant::now();
    let mut pinged = false;
    let reason = loop {
        if let Err(why) = reader.frames(&conn, &mut buf) {
            // Tell the member why before going.
            let mut goaway = 0u32.to_be_bytes().to_vec();
            goaway.extend_from_slice(&PROTOCOL_ERROR.to_be_bytes());
            goaway.extend_from_slice(why.as_bytes());
            conn.queue(&mut conn.lock(), GOAWAY, 0, 0, &goaway);
            break why;
        }
        let read = tokio::select! {
            read = tokio::time::timeout(silence / 4, read.read_buf(&mut buf)) => read,
            _ = shut.wait_for(|s| *s) => return,
        };
        match read {
            Ok(Ok(0)) => break "the member closed it".to_string(),
            Ok(Ok(_)) => {
                heard = Instant::now();
                pinged = false;
            }
            Ok(Err(e)) => break format!("read failed: {e}"),
            Err(_) => {
                let mut st = conn.lock();
                let waiting = st.open + st.waiting;
                if waiting == 0 {
                    heard = Instant::now();
                } else if heard.elapsed() >= silence {
                    break format!(
                        "the member answered nothing, not even a PING, for {silence:?} while \
                         {waiting} call(s) waited"
                    );
                } else if heard.elapsed() >= silence / 2 && !pinged {
                    conn.queue(&mut st, PING, 0, 0, b"pan-ping");
                    pinged = true;
                }
            }
        }
    };
    conn.close(reason);
}

/// The reading side's state.
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
            if stream == 0 && matches!(kind, DATA | HEADERS | RST_STREAM | CONTINUATION) {
                return Err(format!("frame type {kind} on stream 0"));
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
                    if !call.answered {
                        conn.cancel(
                            &mut st,
                            stream,
                            PROTOCOL_ERROR,
                            "reply DATA before its headers".into(),
                        );
                        return Ok(());
                    }
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
                if flags & PRIORITY_FLAG != 0 {
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
                if block.len() + payload.len() > MAX_HEADER_BLOCK {
                    return Err(format!(
                        "a header block on stream {stream} over {MAX_HEADER_BLOCK} bytes"
                    ));
                }
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
                        SETTINGS_INITIAL_WINDOW_SIZE if value > MAX_WINDOW => {
                            return Err(format!("SETTINGS_INITIAL_WINDOW_SIZE {value} too large"));
                        }
                        SETTINGS_INITIAL_WINDOW_SIZE => st.stream_window = i64::from(value),
                        SETTINGS_MAX_FRAME_SIZE if !(16_384..1 << 24).contains(&value) => {
                            return Err(format!("SETTINGS_MAX_FRAME_SIZE {value} out of range"));
                        }
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
            PING if payload.len() != 8 => return Err("PING frame of the wrong size".into()),
            PING if flags & ACK == 0 => {
                let mut st = conn.lock();
                conn.queue(&mut st, PING, ACK, 0, &payload);
            }
            // The answer to the silence watchdog's PING: hearing it is all.
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
                // Calls up to `last` may still be answered; later ones
                // never will be, and no new one may start.
                let mut st = conn.lock();
                st.draining.get_or_insert(why.clone());
                let unanswered: Vec<u32> = st.calls.keys().copied().filter(|s| *s > last).collect();
                for s in unanswered {
                    conn.finish(&mut st, s, Err(CallError(why.clone())));
                }
                if st.calls.is_empty() {
                    conn.close_locked(&mut st, why);
                }
                conn.room.notify_waiters();
            }
            WINDOW_UPDATE => {
                if payload.len() != 4 {
                    return Err("WINDOW_UPDATE frame of the wrong size".into());
                }
                let increment = payload.get_u32() & 0x7fff_ffff;
                // Each call sends one DATA frame no larger than a new
                // stream's window, so only the connection's window matters.
                if stream == 0 {
                    let mut st = conn.lock();
                    st.send_window += i64::from(increment);
                    if increment == 0 || st.send_window > i64::from(MAX_WINDOW) {
                        return Err(format!(
                            "a WINDOW_UPDATE of {increment} makes no valid window"
                        ));
                    }
                    drop(st);
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
                let error = match text(status.as_deref()) {
                    Some(status) => format!("HTTP status {status}"),
                    None => "reply without :status".to_string(),
                };
                if end {
                    conn.finish(&mut st, stream, Err(CallError(error)));
                } else {
                    // The member holds the stream open (and counted) until
                    // it ends or is reset.
                    conn.cancel(&mut st, stream, CANCEL, error);
                }
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
        let result = match text(grpc_status.as_deref()).as_deref() {
            Some("0") => Ok(std::mem::take(&mut call.message).freeze()),
            Some(code) => Err(status_error(
                code,
                &text(grpc_message.as_deref()).unwrap_or_default(),
            )),
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
            // A literal with incremental indexing (§6.2.1).
            field(out, 0x40, 6, index, name, value);
            self.entries.push((name.to_vec(), value.to_vec()));
            self.size += cost;
        }
    }
}

/// A decoded header value as text.
fn text(value: Option<&[u8]>) -> Option<std::borrow::Cow<'_, str>> {
    value.map(String::from_utf8_lossy)
}

/// Appends one frame.
fn put_frame(out: &mut BytesMut, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    debug_assert!(payload.len() < 1 << 24, "a frame's length has 24 bits");
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
    field(out, 0x00, 4, index, name, value);
}

/// Appends an HPACK literal field whose first byte starts with the bits
/// `first` and holds the name's static-table `index` in a `prefix`-bit
/// integer (0 and the name as a string when there is none); plain strings.
fn field(
    out: &mut impl bytes::BufMut,
    first: u8,
    prefix: u32,
    index: Option<u8>,
    name: &[u8],
    value: &[u8],
) {
    match index {
        Some(i) => integer(out, first, prefix, usize::from(i)),
        None => {
            out.put_u8(first);
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

    /// The next frame from the client; fails (rather than hangs) if none
    /// comes within 10 s.
    async fn read_frame(tcp: &mut TcpStream) -> Frame {
        tokio::time::timeout(Duration::from_secs(10), read_frame_now(tcp))
            .await
            .expect("the client sent no frame within 10 s")
    }

    async fn read_frame_now(tcp: &mut TcpStream) -> Frame {
        let mut head = [0u8; 9];
        tcp.read_exact(&mut head).await.expect("frame head");
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
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
            tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut preface))
                .await
                .expect("no preface within 10 s")
                .unwrap();
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

    /// A client connected to a fake member with `settings`, giving up
    /// after `silence`; and the member's side of the connection.
    async fn connected(settings: Vec<(u16, u32)>, silence: Duration) -> (FramesClient, TcpStream) {
        let (addr, member) = fake_member(settings).await;
        let client = FramesClient::connect_with(&addr, "secret", silence)
            .await
            .unwrap();
        (client, member.await.unwrap())
    }

    /// What the client sent up to and including the DATA that ends a
    /// request.
    #[derive(Default)]
    struct Sent {
        /// The request's stream.
        stream: u32,
        /// Streams opened (HEADERS) on the way.
        opened: Vec<u32>,
        /// SETTINGS acknowledgements on the way.
        acks: usize,
    }

    async fn read_request(tcp: &mut TcpStream) -> Sent {
        let mut sent = Sent::default();
        loop {
            let f = read_frame(tcp).await;
            match f.kind {
                HEADERS => sent.opened.push(f.stream),
                SETTINGS if f.flags == ACK => sent.acks += 1,
                DATA if f.flags & END_STREAM != 0 => {
                    sent.stream = f.stream;
                    return sent;
                }
                _ => {}
            }
        }
    }

    /// Sends a PING and reads up to its ACK: every stream the client
    /// opened before answering.
    async fn ping_round(tcp: &mut TcpStream) -> Vec<u32> {
        send(tcp, PING, 0, 0, b"12345678").await;
        let mut opened = Vec::new();
        loop {
            let f = read_frame(tcp).await;
            match f.kind {
                HEADERS => opened.push(f.stream),
                PING => {
                    assert_eq!((f.flags, &f.payload[..]), (ACK, &b"12345678"[..]));
                    return opened;
                }
                _ => {}
            }
        }
    }

    /// Answers `stream` with headers, `reply` and `grpc-status: 0`.
    async fn answer(tcp: &mut TcpStream, stream: u32, reply: &str) {
        let server = Server {
            name: reply.into(),
            ..Default::default()
        };
        let headers = block(true, &[("content-type", "application/grpc")]);
        send(tcp, HEADERS, END_HEADERS, stream, &headers).await;
        send(tcp, DATA, 0, stream, &grpc_message(&server)).await;
        let trailers = block(false, &[("grpc-status", "0")]);
        send(tcp, HEADERS, END_HEADERS | END_STREAM, stream, &trailers).await;
    }

    /// Starts a call of `name` on `client`.
    fn call(
        client: &FramesClient,
        name: &str,
    ) -> tokio::task::JoinHandle<Result<Server, CallError>> {
        let (client, request) = (client.clone(), request(name));
        tokio::spawn(async move { client.unary(METHOD, &request).await })
    }

    /// The outcome of a started call, within 10 s.
    async fn outcome(
        call: tokio::task::JoinHandle<Result<Server, CallError>>,
    ) -> Result<Server, CallError> {
        tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("the call neither succeeded nor failed within 10 s")
            .expect("the call's task")
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
    async fn honours_the_stream_limit_and_reads_replies_errors_and_resets() {
        let (client, mut tcp) =
            connected(vec![(SETTINGS_MAX_CONCURRENT_STREAMS, 1)], SILENCE).await;

        let call_a = call(&client, "a");
        let call_b = call(&client, "b");
        // The member's SETTINGS acknowledged, then the first request alone:
        // a PING round trip shows nothing else was sent behind it.
        let first = read_request(&mut tcp).await;
        assert_eq!(first.acks, 1, "the member's SETTINGS were not acknowledged");
        assert_eq!(first.opened, vec![first.stream]);
        assert_eq!(
            ping_round(&mut tcp).await,
            Vec::<u32>::new(),
            "past the limit of 1"
        );

        answer(&mut tcp, first.stream, "a").await;
        // The second is answered trailers-only, its header block split
        // over a CONTINUATION frame.
        let second = read_request(&mut tcp).await;
        assert_eq!(second.stream, first.stream + 2);
        let refusal = block(
            true,
            &[("grpc-status", "6"), ("grpc-message", "server%20b exists")],
        );
        let (one, two) = refusal.split_at(3);
        send(&mut tcp, HEADERS, END_STREAM, second.stream, one).await;
        send(&mut tcp, CONTINUATION, END_HEADERS, second.stream, two).await;

        assert_eq!(outcome(call_a).await.unwrap().name, "a");
        let refused = outcome(call_b).await.unwrap_err().0;
        let exists = tonic::Code::AlreadyExists.description();
        assert_eq!(refused, format!("{exists}: server b exists"));

        // A reset call fails with the reason and frees its stream.
        let call_c = call(&client, "c");
        let third = read_request(&mut tcp).await;
        send(&mut tcp, RST_STREAM, 0, third.stream, &2u32.to_be_bytes()).await;
        let reset = outcome(call_c).await.unwrap_err().0;
        assert!(reset.contains("reset the call (HTTP/2 error 2)"), "{reset}");

        // A reply that is not HTTP 200 fails its call, and the stream the
        // member still holds is reset (so it no longer counts).
        let call_d = call(&client, "d");
        let fourth = read_request(&mut tcp).await;
        send(&mut tcp, HEADERS, END_HEADERS, fourth.stream, &[0x80 | 13]).await; // 404
        let not_found = outcome(call_d).await.unwrap_err().0;
        assert_eq!(not_found, "HTTP status 404");
        let f = read_frame(&mut tcp).await;
        assert_eq!((f.kind, f.stream), (RST_STREAM, fourth.stream));
        assert_eq!(f.payload, CANCEL.to_be_bytes());
        let call_e = call(&client, "e");
        let fifth = read_request(&mut tcp).await;
        answer(&mut tcp, fifth.stream, "e").await;
        assert_eq!(outcome(call_e).await.unwrap().name, "e");
    }

    #[tokio::test]
    async fn goaway_lets_the_calls_it_took_finish_and_refuses_the_rest() {
        let (client, mut tcp) = connected(vec![], SILENCE).await;
        let (call_a, call_b) = (call(&client, "a"), call(&client, "b"));
        let a = read_request(&mut tcp).await;
        let b = read_request(&mut tcp).await;

        // The member takes `a` and nothing after it.
        let mut goaway = a.stream.to_be_bytes().to_vec();
        goaway.extend_from_slice(&0u32.to_be_bytes());
        goaway.extend_from_slice(b"restarting");
        send(&mut tcp, GOAWAY, 0, 0, &goaway).await;
        let gone = outcome(call_b).await.unwrap_err().0;
        assert!(
            gone.contains("GOAWAY") && gone.contains("restarting"),
            "{gone} ({})",
            b.stream
        );
        let refused = outcome(call(&client, "c")).await.unwrap_err().0;
        assert!(refused.contains("takes no new calls"), "{refused}");

        // `a` still completes, and then the client closes the connection.
        answer(&mut tcp, a.stream, "a").await;
        assert_eq!(outcome(call_a).await.unwrap().name, "a");
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest));
        closed
            .await
            .expect("the client did not close the connection")
            .unwrap();
        let later = outcome(call(&client, "d")).await.unwrap_err().0;
        assert!(later.contains("connection closed"), "{later}");
    }

    #[tokio::test]
    async fn calls_wait_for_send_window() {
        let (client, mut tcp) = connected(vec![], SILENCE).await;
        // Four 16,000-byte requests fill the member's 65,535-byte
        // connection window; the fifth waits for a WINDOW_UPDATE.
        let big = |i: usize| format!("{i}{}", "x".repeat(16_000));
        let calls: Vec<_> = (0..5).map(|i| call(&client, &big(i))).collect();
        let mut sent = Vec::new();
        for _ in 0..4 {
            sent.push(read_request(&mut tcp).await.stream);
        }
        assert_eq!(
            ping_round(&mut tcp).await,
            Vec::<u32>::new(),
            "sent past the window"
        );
        send(&mut tcp, WINDOW_UPDATE, 0, 0, &100_000u32.to_be_bytes()).await;
        sent.push(read_request(&mut tcp).await.stream);
        for (i, stream) in sent.iter().enumerate() {
            answer(&mut tcp, *stream, &format!("{i}")).await;
        }
        for call in calls {
            assert!(outcome(call).await.is_ok());
        }
    }

    #[tokio::test]
    async fn a_silent_member_fails_the_calls_waiting_for_it() {
        let (client, tcp) = connected(vec![], Duration::from_millis(200)).await;
        // The member reads nothing and answers nothing, PINGs included.
        let _tcp = tcp;
        let why = outcome(call(&client, "a")).await.unwrap_err().0;
        assert!(
            why.contains("answered nothing, not even a PING") && why.contains("1 call(s) waited"),
            "{why}"
        );
    }

    #[tokio::test]
    async fn a_slow_member_that_answers_pings_is_waited_for() {
        let (client, mut tcp) = connected(vec![], Duration::from_millis(200)).await;
        let call_a = call(&client, "a");
        let a = read_request(&mut tcp).await;
        // Three PINGs answered: the call has waited well past the 200 ms
        // of silence, and is answered in the end.
        let mut pings = 0;
        while pings < 3 {
            let f = read_frame(&mut tcp).await;
            if f.kind == PING && f.flags == 0 {
                send(&mut tcp, PING, ACK, 0, &f.payload).await;
                pings += 1;
            }
        }
        answer(&mut tcp, a.stream, "a").await;
        assert_eq!(outcome(call_a).await.unwrap().name, "a");
    }

    #[tokio::test]
    async fn a_bad_token_is_refused_before_connecting() {
        let err = FramesClient::connect("127.0.0.1:1", "two\nlines")
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("printable ASCII"), "{err}");
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

        let refusal = |client: &FramesClient, method: &'static str, name: &str| {
            let (client, request) = (client.clone(), request(name));
            async move {
                client
                    .unary::<_, Server>(method, &request)
                    .await
                    .unwrap_err()
                    .0
            }
        };
        let again = refusal(&client, METHOD, "s7").await;
        assert!(
            again.contains("server 's7' in partition 'bench' already exists"),
            "{again}"
        );
        let unknown = refusal(&client, "/pan.v1.Fabric/NoSuchCall", "x").await;
        assert!(unknown.contains("not implemented"), "{unknown}");
        let stranger = FramesClient::connect(&addr, "not-a-token").await.unwrap();
        let refused = refusal(&stranger, METHOD, "y").await;
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

    /// A decoded header field: name and value.
    type HeaderField = (Vec<u8>, Vec<u8>);

    /// Encodes `fields` with `encoder` and decodes the block with
    /// `decoder`: the block, and the fields decoded.
    fn round_trip(
        encoder: &mut Encoder,
        decoder: &mut loona_hpack::Decoder<'static>,
        fields: &Fields<'_>,
    ) -> (Vec<u8>, Vec<HeaderField>) {
        let mut block = Vec::new();
        encoder.encode(fields, &mut block);
        let mut decoded = Vec::new();
        decoder
            .decode_with_cb(&block, |n, v| {
                decoded.push((n.into_owned(), v.into_owned()))
            })
            .unwrap();
        (block, decoded)
    }

    #[test]
    fn request_headers_are_indexed_after_the_first_and_decode_to_what_was_meant() {
        let fields = Fields {
            authority: b"127.0.0.1:7001",
            path: b"/pan.v1.Fabric/CreateServer",
            authorization: b"Bearer secret",
        };
        let expected: Vec<HeaderField> = [
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
            let (block, decoded) = round_trip(&mut encoder, &mut decoder, &fields);
            assert!(block.len() <= fields.most());
            assert_eq!(decoded, expected, "round {round}");
            blocks.push(block.len());
        }
        // Literals first, then one byte per field.
        assert_eq!(blocks[1], 7);
        assert!(blocks[0] > 60 && blocks[2] > blocks[0], "{blocks:?}");
        assert_eq!(blocks[3], 7);

        // A table with room for some fields: `:authority` (56 bytes) and
        // `te` (42) go in, the others stay literals; the second block
        // names them 63 (older) and 62 (newer).
        let mut some = Encoder::new();
        some.set_max(100);
        let mut fresh = loona_hpack::Decoder::new();
        for round in 0..2 {
            let (block, decoded) = round_trip(&mut some, &mut fresh, &fields);
            if round == 1 {
                assert_eq!(block[..3], [0x80 | 3, 0x80 | 6, 0x80 | 63]);
                assert!(block.contains(&(0x80 | 62)));
            }
            assert_eq!(decoded, expected, "round {round}");
        }
        assert_eq!(some.size, 56 + 42);

        // A table too small for a field sends it as a plain literal, every
        // time, and still decodes.
        let mut tiny = Encoder::new();
        tiny.set_max(40);
        for _ in 0..2 {
            let (_, decoded) = round_trip(&mut tiny, &mut decoder, &fields);
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
