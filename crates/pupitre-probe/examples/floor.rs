//! The floor of a check's CPU cost on this machine, for `bench/supervision.sh`: the least work
//! any checker must do against the bench's targets, done by a plain blocking loop with no
//! scheduler, no check state and no storage.
//!
//! `floor tcp|http ADDRESS COUNT RATE` connects COUNT times, RATE times a second (0: back to
//! back), and for `http` sends a GET and reads the answer to its end; every connection is
//! closed. It prints one JSON line: the operations done and the CPU seconds (user + system,
//! from `/proc/self/stat`, as the bench measures Pupitre) per 1,000 of them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, address, count, rate] = &args[..] else {
        eprintln!("usage: floor tcp|http ADDRESS COUNT RATE");
        std::process::exit(2);
    };
    let address: SocketAddr = address.parse().expect("ADDRESS: an IP address and a port");
    let count: u32 = count.parse().expect("COUNT: a whole number");
    let rate: u32 = rate.parse().expect("RATE: a whole number");
    let http = match kind.as_str() {
        "tcp" => false,
        "http" => true,
        other => panic!("{other}: tcp or http"),
    };
    let request = format!("GET / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let step = (rate > 0).then(|| Duration::from_secs(1) / rate);
    let before = cpu_ticks();
    let start = Instant::now();
    let mut failed = 0_u32;
    let mut answer = Vec::with_capacity(256);
    for n in 0..count {
        if let Some(step) = step
            && let Some(wait) = (start + step * n).checked_duration_since(Instant::now())
        {
            std::thread::sleep(wait);
        }
        let Ok(mut stream) = TcpStream::connect(address) else {
            failed += 1;
            continue;
        };
        if http {
            answer.clear();
            if stream.write_all(request.as_bytes()).is_err()
                || stream.read_to_end(&mut answer).is_err()
                || !answer.starts_with(b"HTTP/1.1 200")
            {
                failed += 1;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_s = (cpu_ticks() - before) as f64 / USER_HZ;
    println!(
        "{{\"kind\": \"{kind}\", \"done\": {}, \"failed\": {failed}, \"seconds\": {seconds:.2}, \
         \"cpu_s\": {cpu_s:.3}, \"cpu_s_per_1000\": {:.4}}}",
        count - failed,
        cpu_s * 1000.0 / f64::from(count.max(1))
    );
}

/// utime + stime of this process, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // The command name, in parentheses, may hold spaces: count fields after its end.
    let after = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Clock ticks per second in `/proc` (`getconf CLK_TCK`): 100 on every Linux architecture.
const USER_HZ: f64 = 100.0;
