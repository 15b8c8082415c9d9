//! The native ping probe against loopback (127.0.0.1 and ::1), once side by side with Debian's
//! `check_ping`, and its TCP fallback with ICMP forced off. ICMP needs root, `CAP_NET_RAW` or
//! `net.ipv4.ping_group_range`: CI runs as root. Every run is bounded in time; no packet leaves
//! the machine (100 % loss is covered by the unit tests of `ping.rs`, since every 127.0.0.0/8
//! address answers).

use std::path::Path;
use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::output::PluginOutput;
use pupitre_core::monitoring::perfdata::Uom;
use pupitre_core::monitoring::range::Thresholds;
use pupitre_probe::outcome::Outcome;
use pupitre_probe::ping::{FALLBACK_PORTS, IcmpCapability, PingCheck, icmp_capability};
use pupitre_probe::plugin::PLUGIN_DIR;

/// No test waits longer than this for one run, whatever the probe does.
const RUN_BOUND: Duration = Duration::from_secs(5);

/// Three packets 10 ms apart, a 2 s timeout, check_ping's usual `-w 100,20% -c 500,60%`.
fn check(host: &str) -> PingCheck {
    PingCheck {
        count: 3,
        interval: Duration::from_millis(10),
        timeout: Duration::from_secs(2),
        rta: Thresholds::parse("100", "500").expect("rta"),
        loss: Thresholds::parse("20", "60").expect("loss"),
        ..PingCheck::new(host)
    }
}

/// The capability of this process, which must allow ICMP for these tests.
fn capability() -> IcmpCapability {
    let capability = icmp_capability();
    assert!(
        !matches!(capability, IcmpCapability::None { .. }),
        "the ping tests need ICMP (run them as root): {capability:?}"
    );
    capability
}

async fn run(check: &PingCheck, capability: &IcmpCapability) -> Outcome {
    assert_eq!(check.validate(), Ok(()));
    tokio::time::timeout(RUN_BOUND, check.run_with(capability))
        .await
        .expect("the run ends within its timeout")
}

/// Prints the outcome as a plugin would and reads it back, checking nothing is lost.
fn printed(outcome: &Outcome) -> PluginOutput {
    let text = outcome.to_plugin_output();
    let parsed = PluginOutput::parse(&text, 64 * 1024);
    assert!(parsed.perfdata_errors.is_empty(), "{text}");
    assert_eq!(parsed.perfdata, outcome.perfdata, "{text}");
    parsed
}

#[tokio::test]
async fn loopback_answers_ok_with_perfdata() {
    let capability = capability();
    for host in ["127.0.0.1", "::1", "localhost"] {
        let outcome = run(&check(host), &capability).await;
        assert_eq!(outcome.state, State::Ok, "{host}: {outcome:?}");
        assert!(
            outcome
                .summary
                .starts_with("PING OK - Packet loss = 0%, RTA = "),
            "{}",
            outcome.summary
        );
        assert!(
            outcome
                .long_output
                .contains(", 3 received\nrtt min/avg/max = "),
            "{}",
            outcome.long_output
        );
        let parsed = printed(&outcome);
        let [rta, pl] = &parsed.perfdata[..] else {
            panic!("two perfdata items: {parsed:?}");
        };
        assert_eq!((rta.label.as_str(), &rta.uom), ("rta", &Uom::Milliseconds));
        assert!(rta.value.is_some_and(|v| v > 0.0 && v < 100.0), "{rta:?}");
        assert_eq!((pl.label.as_str(), &pl.uom), ("pl", &Uom::Percent));
        assert_eq!(pl.value, Some(0.0));
        let text = outcome.to_plugin_output();
        assert!(text.contains(" pl=0.000000%;20;60;0.000000;\n"), "{text}");
    }
}

#[tokio::test]
async fn rta_thresholds_give_warning_and_critical() {
    let capability = capability();
    for (warning, critical, state) in [
        ("0.000001", "", State::Warning),
        ("0.000001", "0.000001", State::Critical),
        ("", "0.000001", State::Critical),
    ] {
        let outcome = run(
            &PingCheck {
                rta: Thresholds::parse(warning, critical).expect("rta"),
                ..check("127.0.0.1")
            },
            &capability,
        )
        .await;
        assert_eq!(
            outcome.state, state,
            "-w {warning} -c {critical}: {outcome:?}"
        );
        assert!(
            outcome.summary.starts_with(&format!("PING {state} - ")),
            "{}",
            outcome.summary
        );
        let parsed = printed(&outcome);
        assert_eq!(
            parsed.perfdata[0].warning.map(|r| r.to_string()),
            (!warning.is_empty()).then(|| "0.000001".to_owned())
        );
    }
}

/// Debian's `check_ping` and the probe, on the same host with the same thresholds, agree on
/// the state and on the shape of the perfdata (labels, units, thresholds, min, max).
#[tokio::test]
async fn agrees_with_check_ping() {
    let capability = capability();
    let plugin = Path::new(PLUGIN_DIR).join("check_ping");
    assert!(
        plugin.is_file(),
        "{} is missing: install Debian's monitoring-plugins",
        plugin.display()
    );
    for (host, family) in [("127.0.0.1", "-4"), ("::1", "-6")] {
        let reference = tokio::process::Command::new(&plugin)
            .args(["-H", host, family, "-w", "100,20%", "-c", "500,60%"])
            .args(["-p", "2", "-t", "4"])
            .kill_on_drop(true)
            .output();
        let reference = tokio::time::timeout(RUN_BOUND, reference)
            .await
            .expect("check_ping ends in time")
            .expect("check_ping runs");
        let stdout = String::from_utf8_lossy(&reference.stdout);
        let reference_state = State::from_exit_code(reference.status.code().unwrap_or(-1));
        let theirs = PluginOutput::parse(&stdout, 64 * 1024);
        assert!(theirs.perfdata_errors.is_empty(), "check_ping: {stdout}");

        let ours = run(&check(host), &capability).await;
        assert_eq!(reference_state, State::Ok, "check_ping: {stdout}");
        assert_eq!(ours.state, reference_state, "{ours:?}");
        let ours = printed(&ours);
        assert_eq!(theirs.perfdata.len(), 2, "check_ping: {stdout}");
        for (ours, theirs) in ours.perfdata.iter().zip(&theirs.perfdata) {
            assert_eq!(ours.label, theirs.label, "check_ping: {stdout}");
            assert_eq!(ours.uom, theirs.uom, "check_ping: {stdout}");
            assert_eq!(ours.warning, theirs.warning, "check_ping: {stdout}");
            assert_eq!(ours.critical, theirs.critical, "check_ping: {stdout}");
            assert_eq!((ours.min, ours.max), (theirs.min, theirs.max));
            assert_eq!(ours.min, Some(0.0));
        }
        // The summary reads the same up to the figures.
        assert!(
            stdout.starts_with("PING OK - Packet loss = 0%, RTA = "),
            "{stdout}"
        );
    }
}

/// With ICMP forced off, the probe says so and proves the host up by TCP: on loopback, port 22
/// either accepts (an sshd) or refuses, and either will do.
#[tokio::test]
async fn without_icmp_falls_back_to_tcp() {
    let capability = IcmpCapability::None {
        diagnostic: "ICMP is not permitted (forced by the test)".to_owned(),
    };
    for host in ["127.0.0.1", "::1"] {
        let outcome = run(&check(host), &capability).await;
        assert_eq!(outcome.state, State::Ok, "{outcome:?}");
        let prefix = format!(
            "PING OK - ICMP not permitted, host reachable by TCP: {host} port {} ",
            FALLBACK_PORTS[0]
        );
        let quick = outcome.summary.starts_with(&prefix)
            || FALLBACK_PORTS.iter().any(|port| {
                outcome.summary.starts_with(&format!(
                    "PING OK - ICMP not permitted, host reachable by TCP: {host} port {port} "
                ))
            });
        assert!(quick, "{}", outcome.summary);
        assert_eq!(
            outcome.long_output,
            "ICMP is not permitted (forced by the test)"
        );
        assert!(outcome.perfdata.is_empty(), "{outcome:?}");
    }
}

#[test]
fn diagnostic_names_the_fixes() {
    // Whatever this machine allows, the text an operator would get names all three fixes.
    if let IcmpCapability::None { diagnostic } = icmp_capability() {
        for fix in ["setcap cap_net_raw+ep", "ping_group_range", "root"] {
            assert!(diagnostic.contains(fix), "{diagnostic}");
        }
    }
}
