//! An order service on tokio: a TCP server accepting newline-delimited orders from many
//! connections, publishing them into a byteor ring with `publish_async`, and streaming each
//! connection's results back from the ring's egress stream; plus a client that drives it and
//! measures throughput and round-trip latency. Used by the `tokio_service` example and, with a
//! small order count, by the tests.
//!
//! Protocol: the client sends `<id> <qty>\n` per order; the server answers `<id> <status>\n`,
//! status `1` accepted, `0` rejected (a quantity above the risk limit).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use byteor::exec::egress::{self, EgressReceiver};
use byteor::exec::Producer;
use byteor::plan::OnFull;
use byteor::prelude::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex, Semaphore};

/// Orders a connection may have in flight (sent, not yet answered).
pub const WINDOW: usize = 256;

/// The largest accepted quantity.
pub const RISK_LIMIT: i64 = 900;

/// An order in the ring.
#[derive(Debug, Default, Clone, Copy)]
pub struct Order {
    /// The connection it came from.
    pub conn: u32,
    /// The client's order id.
    pub id: u64,
    /// Signed quantity.
    pub qty: i64,
}

/// A result leaving the ring through the egress.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    /// The connection to answer.
    pub conn: u32,
    /// The order id.
    pub id: u64,
    /// Whether the risk check accepted it.
    pub accepted: bool,
}

/// What a client run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Orders answered.
    pub orders: u64,
    /// Of which accepted.
    pub accepted: u64,
    /// Wall time from the first send to the last answer.
    pub elapsed: Duration,
    /// Round-trip latencies, sorted, in nanoseconds.
    pub latencies: Vec<u64>,
}

impl Report {
    /// The `p`-quantile of the round-trip latency (`p` in `0..=1`).
    pub fn percentile(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let i = ((n as f64 * p) as usize).min(n - 1);
        Duration::from_nanos(self.latencies[i])
    }

    /// Orders per second.
    pub fn throughput(&self) -> f64 {
        self.orders as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

type Registrations = mpsc::UnboundedSender<(u32, mpsc::Sender<Ack>)>;

/// The server: a ring with one risk stage whose results leave through an egress queue, a task
/// routing those results to their connections, and one task per connection.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let (mut acks, results) = egress::channel::<Ack>(4096, OnFull::Block);
    let pipeline = SingleRing::<Order>::build("orders", |ring| {
        let ring = ring.capacity(4096).ingress("orders_in").egress("acks_out");
        let (ring, _) = ring.stage(
            "risk",
            from_fn(move |o: &Order, _: &EventContext| {
                let ack = Ack {
                    conn: o.conn,
                    id: o.id,
                    accepted: o.qty.abs() <= RISK_LIMIT,
                };
                acks.send(ack)
                    .map(drop)
                    .map_err(|_| StageError::msg("the result router is gone"))
            }),
        );
        ring.build()
    })
    .map_err(std::io::Error::other)?;
    let (producer, control) = pipeline.spawn().map_err(std::io::Error::other)?;
    let producer = Arc::new(Mutex::new(producer));
    let (register, registrations) = mpsc::unbounded_channel();
    tokio::spawn(route_results(results, registrations));
    let mut next_conn = 0u32;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let conn = next_conn;
        next_conn += 1;
        let (producer, register) = (Arc::clone(&producer), register.clone());
        tokio::spawn(async move {
            if let Err(e) = connection(conn, stream, producer, register).await {
                eprintln!("connection {conn}: {e}");
            }
        });
        // The control handle lives as long as the server (dropping it shuts the ring down).
        let _ = &control;
    }
}

/// Hands each result from the egress stream to its connection's writer.
async fn route_results(
    mut results: EgressReceiver<Ack>,
    mut registrations: mpsc::UnboundedReceiver<(u32, mpsc::Sender<Ack>)>,
) {
    let mut writers: HashMap<u32, mpsc::Sender<Ack>> = HashMap::new();
    while let Some(ack) = results.recv().await {
        if !writers.contains_key(&ack.conn) {
            // A connection registers before it publishes its first order.
            while let Ok((conn, tx)) = registrations.try_recv() {
                writers.insert(conn, tx);
            }
        }
        if let Some(tx) = writers.get(&ack.conn) {
            if tx.send(ack).await.is_err() {
                writers.remove(&ack.conn);
            }
        }
    }
}

/// One client connection: reads orders, publishes them, writes their results back.
async fn connection(
    conn: u32,
    stream: TcpStream,
    producer: Arc<Mutex<Producer<Order>>>,
    register: Registrations,
) -> std::io::Result<()> {
    let (read, write) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Ack>(WINDOW * 2);
    register
        .send((conn, tx))
        .map_err(|_| std::io::Error::other("the result router is gone"))?;
    let writer = tokio::spawn(async move {
        let mut out = BufWriter::new(write);
        while let Some(ack) = rx.recv().await {
            out.write_all(format!("{} {}\n", ack.id, u8::from(ack.accepted)).as_bytes())
                .await?;
            if rx.is_empty() {
                out.flush().await?;
            }
        }
        out.flush().await
    });
    let mut lines = BufReader::new(read).lines();
    let mut batch = Vec::with_capacity(WINDOW);
    loop {
        // Publish what arrived together under one lock of the producer.
        let Some(line) = lines.next_line().await? else {
            break;
        };
        batch.push(parse(&line)?);
        while batch.len() < WINDOW && lines.get_ref().buffer().contains(&b'\n') {
            match lines.next_line().await? {
                Some(line) => batch.push(parse(&line)?),
                None => break,
            }
        }
        let mut producer = producer.lock().await;
        for &(id, qty) in &batch {
            producer
                .publish_async(|o| *o = Order { conn, id, qty })
                .await
                .map_err(std::io::Error::other)?;
        }
        drop(producer);
        batch.clear();
    }
    drop(lines);
    // The writer ends once the router drops this connection's sender; the client closes first.
    writer.abort();
    Ok(())
}

fn parse(line: &str) -> std::io::Result<(u64, i64)> {
    let mut fields = line.split_ascii_whitespace();
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad order `{line}`"),
        )
    };
    let id = fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad)?;
    let qty = fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad)?;
    Ok((id, qty))
}

/// The client: `orders` orders over `connections` connections to `addr`, each connection with
/// at most [`WINDOW`] orders in flight. Returns what it measured.
pub async fn drive(
    addr: std::net::SocketAddr,
    orders: u64,
    connections: u32,
) -> std::io::Result<Report> {
    let start = Instant::now();
    let per_conn = orders / u64::from(connections);
    let extra = orders % u64::from(connections);
    let mut clients = Vec::new();
    for c in 0..connections {
        let n = per_conn + u64::from(u64::from(c) < extra);
        clients.push(tokio::spawn(client(addr, n, start)));
    }
    let mut report = Report {
        orders: 0,
        accepted: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(orders as usize),
    };
    for c in clients {
        let (accepted, latencies) = c.await.map_err(std::io::Error::other)??;
        report.orders += latencies.len() as u64;
        report.accepted += accepted;
        report.latencies.extend(latencies);
    }
    report.elapsed = start.elapsed();
    report.latencies.sort_unstable();
    Ok(report)
}

/// One client connection: sends `n` orders, reads their answers; returns the accepted count and
/// each order's round trip in nanoseconds.
async fn client(
    addr: std::net::SocketAddr,
    n: u64,
    start: Instant,
) -> std::io::Result<(u64, Vec<u64>)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let window = Arc::new(Semaphore::new(WINDOW));
    let sent: Arc<Vec<std::sync::atomic::AtomicU64>> =
        Arc::new((0..n).map(|_| Default::default()).collect());
    let sender = {
        let (window, sent) = (Arc::clone(&window), Arc::clone(&sent));
        tokio::spawn(async move {
            let mut out = BufWriter::new(write);
            for id in 0..n {
                let permit = window.acquire().await.map_err(std::io::Error::other)?;
                permit.forget();
                let stamp = start.elapsed().as_nanos() as u64;
                sent[id as usize].store(stamp, std::sync::atomic::Ordering::Relaxed);
                let qty = (id * 7919 % 2000) as i64 - 1000;
                out.write_all(format!("{id} {qty}\n").as_bytes()).await?;
                if window.available_permits() == 0 || id + 1 == n {
                    out.flush().await?;
                }
            }
            Ok::<_, std::io::Error>(out)
        })
    };
    let mut lines = BufReader::new(read).lines();
    let mut latencies = Vec::with_capacity(n as usize);
    let mut accepted = 0;
    while (latencies.len() as u64) < n {
        let Some(line) = lines.next_line().await? else {
            return Err(std::io::Error::other("the server closed the connection"));
        };
        let now = start.elapsed().as_nanos() as u64;
        let (id, status) = parse(&line)?;
        let sent_at = sent
            .get(id as usize)
            .ok_or_else(|| std::io::Error::other(format!("unknown order {id}")))?
            .load(std::sync::atomic::Ordering::Relaxed);
        latencies.push(now.saturating_sub(sent_at));
        accepted += u64::from(status == 1);
        window.add_permits(1);
    }
    let mut out = sender.await.map_err(std::io::Error::other)??;
    out.shutdown().await?;
    Ok((accepted, latencies))
}

/// Starts the server on an ephemeral port of 127.0.0.1, runs the client against it, and
/// returns the client's report.
pub async fn run(orders: u64, connections: u32) -> std::io::Result<Report> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener));
    let report = drive(addr, orders, connections).await;
    server.abort();
    report
}

/// Orders whose quantity the client's order flow makes acceptable, out of the first `n` per
/// connection (for checking a run).
pub fn expected_accepted(orders: u64, connections: u32) -> u64 {
    let per_conn = orders / u64::from(connections);
    let extra = orders % u64::from(connections);
    (0..connections)
        .map(|c| {
            let n = per_conn + u64::from(u64::from(c) < extra);
            (0..n)
                .filter(|id| ((id * 7919 % 2000) as i64 - 1000).abs() <= RISK_LIMIT)
                .count() as u64
        })
        .sum()
}
