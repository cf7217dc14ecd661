//! The request/reply commands: `request` asks a responder and prints its
//! answer; `respond` answers requests on a channel until stopped.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use socketengine::{Encoding, Payload, Reply, To};

use crate::client::{connect, secs, typed};
use crate::host::POLL;
use crate::shutdown::Shutdown;
use crate::{Connect, lib, show};

/// Options of `socketengine request`.
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    #[command(flatten)]
    connect: Connect,
    /// The channel to ask on (a responder's channel, or `cmd` for commands).
    channel: String,
    /// The request's payload, as given (its bytes, UTF-8 or not; default:
    /// empty).
    payload: Option<std::ffi::OsString>,
    /// Ask the client with this name, through the host, instead of the
    /// host's own responder.
    #[arg(long = "to", value_name = "NAME")]
    to: Option<String>,
    /// Send the payload as JSON (checked here, and declared in the frame, so
    /// the responder can decode it): `request ADDR cmd '{"cmd": "stop"}' --json`.
    #[arg(long)]
    json: bool,
    /// Longest time for connecting and for the answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,
}

/// Sends one request and prints its answer on stdout; fails with the
/// request's error (no responder, the responder's words, a timeout, ...).
pub(crate) fn request(args: &RequestArgs) -> anyhow::Result<()> {
    let timeout = secs(args.timeout)?;
    let payload = request_payload(args)?;
    let client = connect(&args.connect, "request", timeout)?;
    let to = match &args.to {
        Some(name) => To::Name(name.clone()),
        None => To::Host,
    };
    let asked = Instant::now();
    let answer = client.to(to).request(&args.channel, payload, timeout);
    let reply = answer.and_then(|replies| replies.one()).map_err(lib);
    let reply = reply.with_context(|| format!("no answer on {}", show::quoted(&args.channel)))?;
    print_reply(&reply)?;
    eprintln!(
        "answered by {} in {} ({} bytes{})",
        reply.from,
        show::age(asked.elapsed()),
        reply.payload.len(),
        encoding_note(reply.encoding)
    );
    client.close();
    Ok(())
}

/// The payload from the argument, checked as JSON with `--json`.
fn request_payload(args: &RequestArgs) -> anyhow::Result<Payload> {
    let bytes: Bytes = match &args.payload {
        Some(data) => data.clone().into_encoded_bytes().into(),
        None => Bytes::new(),
    };
    typed(bytes, args.json)
}

/// The answer on stdout as it came (a MessagePack answer as JSON), ended
/// by a newline.
fn print_reply(reply: &Reply) -> anyhow::Result<()> {
    let mut text = match reply.encoding {
        Encoding::MsgPack => {
            let value: serde_json::Value = reply.decode().map_err(lib)?;
            serde_json::to_vec(&value)?
        }
        _ => reply.payload.to_vec(),
    };
    if text.last() != Some(&b'\n') {
        text.push(b'\n');
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&text).and_then(|()| out.flush())?;
    Ok(())
}

fn encoding_note(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Json => ", JSON",
        Encoding::MsgPack => ", MessagePack",
        _ => "",
    }
}

/// Options of `socketengine respond`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("answer").args(["echo", "reply"]).required(true)))]
pub(crate) struct RespondArgs {
    #[command(flatten)]
    connect: Connect,
    /// The channel to answer requests on.
    channel: String,
    /// Answer each request with its own payload (and encoding).
    #[arg(long)]
    echo: bool,
    /// Answer each request with this text.
    #[arg(long, value_name = "TEXT")]
    reply: Option<String>,
}

/// Answers requests on the channel until Ctrl-C or a lost connection, one
/// line on stderr per request.
pub(crate) fn respond(args: &RespondArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::install()?;
    let client = connect(&args.connect, "respond", Duration::from_secs(5))?;
    let answer = args.reply.clone().map(Bytes::from);
    client
        .on_request(&args.channel, move |req| {
            let (from, channel) = (req.from(), show::quoted(req.channel()));
            eprintln!(
                "request from {from} on {channel}: {} bytes",
                req.payload().len()
            );
            Ok(match &answer {
                Some(text) => Payload::bytes(text.clone()),
                None => Payload::encoded(req.payload().clone(), req.encoding()),
            })
        })
        .map_err(lib)?;
    eprintln!(
        "responding on {} as {} at {}",
        show::quoted(&args.channel),
        show::word(client.name()),
        client.host_addr()
    );
    while !shutdown.requested() {
        if !client.is_connected() {
            bail!("the host closed the connection");
        }
        std::thread::sleep(POLL);
    }
    client.close();
    Ok(())
}
