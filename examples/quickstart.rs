//! A host and two clients on loopback exchanging messages; prints what each sees.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use std::time::{Duration, Instant};

use socketengine::{Client, Event, Host};

fn main() -> Result<(), socketengine::Error> {
    let host = Host::builder().addr("127.0.0.1:0").start()?;
    let addr = host.local_addr().to_string();
    println!("host listening on {addr}");

    let camera = Client::builder().addr(&addr).name("camera").connect()?;
    let planner = Client::builder().addr(&addr).name("planner").connect()?;
    for client in host.clients() {
        println!(
            "client {} {:?} from {}",
            client.id, client.name, client.addr
        );
    }

    // The planner publishes poses without waiting; the camera sends a frame and
    // waits until the kernel has it.
    for i in 0..5 {
        planner.write("pose", format!("x={i} y={}", i * 2))?;
    }
    planner.flush()?;
    camera.write_lock("frame", vec![0u8; 640 * 480 * 3])?;

    wait_until(|| host.channel_stats("pose").map_or(0, |s| s.received) == 5);
    wait_until(|| host.get("frame").is_some());
    let latest = host.get("pose").expect("pose arrived");
    println!(
        "host: latest pose {:?}",
        String::from_utf8_lossy(latest.payload())
    );
    for msg in host.get_all("pose") {
        println!(
            "host: queued pose {:?} from {}",
            String::from_utf8_lossy(msg.payload()),
            msg.from()
        );
    }
    let frame = host.get("frame").expect("frame arrived");
    println!(
        "host: frame of {} bytes from {}",
        frame.payload().len(),
        frame.from()
    );

    // The host broadcasts a command and answers the planner alone.
    let camera_cmds = camera.subscribe("cmd");
    let planner_cmds = planner.subscribe("cmd");
    host.write_lock("cmd", "start")?;
    host.to(planner.id()).write_lock("cmd", "plan")?;
    for (name, rx, expected) in [("camera", &camera_cmds, 1), ("planner", &planner_cmds, 2)] {
        for _ in 0..expected {
            let msg = rx
                .recv_timeout(Duration::from_secs(5))
                .expect("command arrived");
            println!("{name}: cmd {:?}", String::from_utf8_lossy(msg.payload()));
        }
    }

    camera.close();
    wait_until(|| {
        host.clients()
            .iter()
            .any(|c| c.name == "camera" && !c.connected)
    });
    for event in host.events().try_iter() {
        match event {
            Event::Connected { client, name, .. } => println!("event: {name} ({client}) connected"),
            Event::Disconnected { client, name, .. } => {
                println!("event: {name} ({client}) disconnected")
            }
            other => println!("event: {other:?}"),
        }
    }
    host.close();
    Ok(())
}

/// Polls `done` for up to five seconds.
fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting");
        std::thread::yield_now();
    }
}
