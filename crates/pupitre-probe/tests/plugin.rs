//! The plugin runner against real processes: Debian's monitoring-plugins 2.3.3 pointed at
//! servers on loopback, and shell-script plugins written per test. No mocks.
//!
//! Every test writes its scripts before it starts any process (a script still open for writing
//! while another thread forks cannot be executed: ETXTBSY), and every run is bounded in time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pupitre_probe::plugin::{
    Exit, MacroValues, OUTPUT_LIMIT, PLUGIN_DIR, PluginCheck, PluginCheckError, PluginResult,
    PluginRunner, State,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// No test waits longer than this for one run, whatever the runner does.
const RUN_BOUND: Duration = Duration::from_secs(60);

/// A plugin of Debian's monitoring-plugins; fails, never skips, when it is not installed.
fn monitoring_plugin(name: &str) -> PathBuf {
    let path = Path::new(PLUGIN_DIR).join(name);
    assert!(
        path.is_file(),
        "{} is missing: install Debian's monitoring-plugins (`.ci/run` does, \
         `apt-get install -y monitoring-plugins` by hand)",
        path.display()
    );
    path
}

fn check(plugin: &Path, arguments: &[&str], timeout: Duration) -> PluginCheck {
    PluginCheck {
        plugin: plugin.to_owned(),
        arguments: arguments
            .iter()
            .map(|argument| (*argument).to_owned())
            .collect(),
        timeout,
    }
}

fn host(address: &str, args: &[&str]) -> MacroValues {
    MacroValues {
        host_address: address.to_owned(),
        host_name: "peer".to_owned(),
        args: args.iter().map(|arg| (*arg).to_owned()).collect(),
    }
}

/// Validates `check`, then runs it once, bounded by [`RUN_BOUND`].
async fn run_valid(
    runner: &PluginRunner,
    check: &PluginCheck,
    values: &MacroValues,
) -> PluginResult {
    check.validate().expect("the check is valid");
    run(runner, check, values).await
}

async fn run(runner: &PluginRunner, check: &PluginCheck, values: &MacroValues) -> PluginResult {
    tokio::time::timeout(RUN_BOUND, runner.run(check, values))
        .await
        .expect("the run ends within its bound")
}

#[track_caller]
fn assert_run(result: &PluginResult, state: State, stdout_start: &str) {
    assert_eq!(result.state(), state, "{result:#?}");
    assert!(
        result.stdout.starts_with(stdout_start),
        "stdout should start with {stdout_start:?}: {result:#?}"
    );
    // Every performance datum the plugin printed on its first line is parsed, none dropped.
    let output = result.output();
    assert!(output.perfdata_errors.is_empty(), "{output:#?}");
    let first_line = result.stdout.lines().next().unwrap_or("");
    let printed: Vec<&str> = first_line
        .split_once('|')
        .map(|(_, perfdata)| {
            perfdata
                .split_whitespace()
                .filter_map(|item| item.split_once('=').map(|(label, _)| label))
                .collect()
        })
        .unwrap_or_default();
    let parsed: Vec<&str> = output
        .perfdata
        .iter()
        .take(printed.len())
        .map(|d| d.label.as_str())
        .collect();
    assert_eq!(parsed, printed, "{output:#?}");
    assert_eq!(
        output.summary,
        first_line.split('|').next().unwrap_or("").trim()
    );
}

/// A `#!/bin/sh` plugin in `dir`, executable.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write the script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("make the script executable");
    path
}

/// A port on 127.0.0.1 where nothing listens (it was free a moment ago).
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("local address").port()
}

/// Accepts connections on 127.0.0.1 and answers each HTTP request with the status its path
/// names (`/500` gives 500) or 200, and closes.
async fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&chunk[..read]),
                    }
                }
                let status = if request.starts_with(b"GET /500 ") {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let body = "<html><body>hello from the test</body></html>";
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn check_tcp_is_ok_on_a_listening_port_and_critical_on_a_closed_one() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let open = listener.local_addr().expect("local address").port();
    tokio::spawn(async move { while listener.accept().await.is_ok() {} });
    let closed = closed_port().await;
    let runner = PluginRunner::new(2);
    let check_tcp = check(
        &monitoring_plugin("check_tcp"),
        &["-H", "$HOSTADDRESS$", "-p", "$ARG1$"],
        Duration::from_secs(10),
    );

    let result = run_valid(
        &runner,
        &check_tcp,
        &host("127.0.0.1", &[&open.to_string()]),
    )
    .await;
    assert_run(&result, State::Ok, "TCP OK - ");
    // `time=0.000166s;;;0.000000;10.000000`: seconds, from 0 to the timeout.
    let time = &result.output().perfdata[0];
    assert_eq!(
        (time.label.as_str(), time.uom.as_str(), time.min, time.max),
        ("time", "s", Some(0.0), Some(10.0)),
        "{result:#?}"
    );
    assert!(time.value.is_some_and(|v| (0.0..1.0).contains(&v)));
    assert!(
        result.stdout.contains(&format!("port {open}")),
        "{result:#?}"
    );

    let result = run_valid(
        &runner,
        &check_tcp,
        &host("127.0.0.1", &[&closed.to_string()]),
    )
    .await;
    assert_eq!(result.exit, Exit::Code(2), "{result:#?}");
    assert_run(
        &result,
        State::Critical,
        &format!("connect to address 127.0.0.1 and port {closed}: Connection refused"),
    );
}

#[tokio::test]
async fn check_load_is_ok_under_high_thresholds_and_critical_under_zero() {
    let runner = PluginRunner::new(1);
    let check_load = monitoring_plugin("check_load");

    let high = check(
        &check_load,
        &["-w", "900,900,900", "-c", "1000,1000,1000"],
        Duration::from_secs(10),
    );
    assert_run(
        &run_valid(&runner, &high, &MacroValues::default()).await,
        State::Ok,
        "LOAD OK - total load average: ",
    );

    // CRITICAL means a load average above 0.00: true while cargo builds and runs this suite.
    let zero = check(
        &check_load,
        &["-w", "0,0,0", "-c", "0,0,0"],
        Duration::from_secs(10),
    );
    let result = run_valid(&runner, &zero, &MacroValues::default()).await;
    assert_run(
        &result,
        State::Critical,
        "LOAD CRITICAL - total load average: ",
    );
}

#[tokio::test]
async fn check_disk_on_root_is_ok_under_low_thresholds_and_critical_under_full_ones() {
    let runner = PluginRunner::new(1);
    let check_disk = monitoring_plugin("check_disk");

    // OK unless / has less than 1% free.
    let low = check(
        &check_disk,
        &["-w", "1%", "-c", "1%", "-p", "/"],
        Duration::from_secs(10),
    );
    assert_run(
        &run_valid(&runner, &low, &MacroValues::default()).await,
        State::Ok,
        "DISK OK - free space: / ",
    );

    let full = check(
        &check_disk,
        &["-w", "100%", "-c", "100%", "-p", "/"],
        Duration::from_secs(10),
    );
    assert_run(
        &run_valid(&runner, &full, &MacroValues::default()).await,
        State::Critical,
        "DISK CRITICAL - free space: / ",
    );
}

#[tokio::test]
async fn check_procs_counts_the_sleep_this_test_started() {
    let mut sleeper = tokio::process::Command::new("sleep")
        .arg("60")
        .kill_on_drop(true)
        .spawn()
        .expect("start sleep");
    let runner = PluginRunner::new(1);
    let check_procs = monitoring_plugin("check_procs");
    let ppid = format!("--ppid={}", std::process::id());

    let one = check(
        &check_procs,
        &[&ppid, "-C", "sleep", "-c", "1:1"],
        Duration::from_secs(10),
    );
    assert_run(
        &run_valid(&runner, &one, &MacroValues::default()).await,
        State::Ok,
        &format!(
            "PROCS OK: 1 process with PPID = {}, command name 'sleep'",
            std::process::id()
        ),
    );

    let two = check(
        &check_procs,
        &[&ppid, "-C", "sleep", "-c", "2:"],
        Duration::from_secs(10),
    );
    assert_run(
        &run_valid(&runner, &two, &MacroValues::default()).await,
        State::Critical,
        "PROCS CRITICAL: 1 process with PPID = ",
    );
    sleeper.kill().await.expect("stop sleep");
}

#[tokio::test]
async fn check_ping_is_ok_on_loopback() {
    let runner = PluginRunner::new(1);
    let check_ping = check(
        &monitoring_plugin("check_ping"),
        &[
            "-H",
            "$HOSTADDRESS$",
            "-w",
            "100,20%",
            "-c",
            "200,50%",
            "-p",
            "2",
        ],
        Duration::from_secs(15),
    );
    let result = run_valid(&runner, &check_ping, &host("127.0.0.1", &[])).await;
    assert_run(&result, State::Ok, "PING OK - Packet loss = 0%, RTA = ");
}

#[tokio::test]
async fn check_http_is_ok_on_200_and_critical_on_500_and_on_a_refused_port() {
    let port = http_server().await;
    let closed = closed_port().await;
    let runner = PluginRunner::new(2);
    let check_http = check(
        &monitoring_plugin("check_http"),
        &["-I", "$HOSTADDRESS$", "-p", "$ARG1$", "-u", "$ARG2$"],
        Duration::from_secs(10),
    );

    let result = run_valid(
        &runner,
        &check_http,
        &host("127.0.0.1", &[&port.to_string(), "/"]),
    )
    .await;
    assert_run(&result, State::Ok, "HTTP OK: HTTP/1.1 200 OK - ");

    let result = run_valid(
        &runner,
        &check_http,
        &host("127.0.0.1", &[&port.to_string(), "/500"]),
    )
    .await;
    assert_run(
        &result,
        State::Critical,
        "HTTP CRITICAL: HTTP/1.1 500 Internal Server Error - ",
    );

    let result = run_valid(
        &runner,
        &check_http,
        &host("127.0.0.1", &[&closed.to_string(), "/"]),
    )
    .await;
    assert_run(
        &result,
        State::Critical,
        &format!("connect to address 127.0.0.1 and port {closed}: Connection refused"),
    );
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn printed_pid(result: &PluginResult) -> u32 {
    result
        .stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the plugin printed a pid: {result:#?}"))
}

#[tokio::test]
async fn timeout_kills_the_plugin_and_the_child_it_forked() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let plugin = script(
        dir.path(),
        "check_hangs",
        "sleep 1000 &\necho $!\nsleep 1000",
    );
    let runner = PluginRunner::new(1);
    let hangs = check(&plugin, &[], Duration::from_secs(1));

    let start = Instant::now();
    let result = run_valid(&runner, &hangs, &MacroValues::default()).await;
    let took = start.elapsed();

    assert_eq!(
        result.exit,
        Exit::TimedOut {
            after: Duration::from_secs(1)
        },
        "{result:#?}"
    );
    assert_eq!(result.state(), State::Unknown);
    assert_eq!(result.message(), "plugin timed out after 1 s");
    assert!(
        (Duration::from_secs(1)..Duration::from_millis(1800)).contains(&took),
        "the run took {took:?}"
    );
    let child = printed_pid(&result);
    assert!(
        !process_exists(child),
        "the forked sleep {child} is still there"
    );
}

#[tokio::test]
async fn a_child_left_behind_by_a_plugin_that_exited_is_killed() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // The child keeps stdout open: without the group kill, the run would last until the timeout.
    let plugin = script(dir.path(), "check_leaves", "sleep 1000 &\necho $!\nexit 0");
    let runner = PluginRunner::new(1);
    let leaves = check(&plugin, &[], Duration::from_secs(20));

    let result = run_valid(&runner, &leaves, &MacroValues::default()).await;

    assert_eq!(result.exit, Exit::Code(0), "{result:#?}");
    assert!(result.duration < Duration::from_secs(5), "{result:#?}");
    let child = printed_pid(&result);
    assert!(
        !process_exists(child),
        "the forked sleep {child} is still there"
    );
}

#[tokio::test]
async fn a_run_the_caller_stops_waiting_for_is_killed_at_once() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pid_file = dir.path().join("child.pid");
    let plugin = script(
        dir.path(),
        "check_hangs",
        "sleep 1000 &\necho $! > \"$1\"\nsleep 1000",
    );
    let quick = script(dir.path(), "check_quick", "echo OK");
    let runner = PluginRunner::new(1);
    let hangs = check(&plugin, &["$ARG1$"], Duration::from_secs(60));
    let values = host("", &[pid_file.to_str().expect("UTF-8 path")]);

    let abandoned =
        tokio::time::timeout(Duration::from_millis(500), runner.run(&hangs, &values)).await;
    assert!(
        abandoned.is_err(),
        "the plugin hangs, so the run cannot have ended"
    );

    // With one slot, this run starts only once the abandoned one has killed and reaped its group.
    let result = run_valid(
        &runner,
        &check(&quick, &[], Duration::from_secs(10)),
        &MacroValues::default(),
    )
    .await;
    assert_run(&result, State::Ok, "OK");
    assert!(result.waited < Duration::from_secs(5), "{result:#?}");
    let child: u32 = std::fs::read_to_string(&pid_file)
        .expect("the plugin wrote its child's pid")
        .trim()
        .parse()
        .expect("a pid");
    assert!(
        !process_exists(child),
        "the forked sleep {child} is still there"
    );
}

#[tokio::test]
async fn exit_codes_map_to_nagios_states() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let plugin = script(
        dir.path(),
        "check_exits",
        "echo \"exiting with $1\"\nexit \"$1\"",
    );
    let runner = PluginRunner::new(2);
    let exits = check(&plugin, &["$ARG1$"], Duration::from_secs(10));

    let table = [
        (0, State::Ok, "exiting with 0"),
        (1, State::Warning, "exiting with 1"),
        (2, State::Critical, "exiting with 2"),
        (3, State::Unknown, "exiting with 3"),
        (
            4,
            State::Unknown,
            "plugin exited with code 4, not 0 to 3: exiting with 4",
        ),
        (
            255,
            State::Unknown,
            "plugin exited with code 255, not 0 to 3: exiting with 255",
        ),
    ];
    for (code, state, message) in table {
        let result = run_valid(&runner, &exits, &host("", &[&code.to_string()])).await;
        assert_eq!(result.exit, Exit::Code(code), "{result:#?}");
        assert_eq!(
            (result.state(), result.message().as_str()),
            (state, message),
            "{result:#?}"
        );
    }
    assert_eq!(State::from_exit_code(-1), State::Unknown);
}

#[tokio::test]
async fn a_plugin_killed_by_a_signal_is_unknown() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let plugin = script(
        dir.path(),
        "check_dies",
        "echo starting\nkill -TERM $$\nsleep 10",
    );
    let runner = PluginRunner::new(1);

    let result = run_valid(
        &runner,
        &check(&plugin, &[], Duration::from_secs(10)),
        &MacroValues::default(),
    )
    .await;

    assert_eq!(result.exit, Exit::Signal(15), "{result:#?}");
    assert_eq!(result.state(), State::Unknown);
    assert_eq!(result.message(), "plugin was killed by signal 15 (SIGTERM)");
    assert_eq!(result.stdout, "starting\n");
}

#[tokio::test]
async fn ten_megabytes_of_output_are_truncated_without_hanging() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let plugin = script(
        dir.path(),
        "check_chatty",
        "head -c 10000000 /dev/zero | tr '\\0' o\nhead -c 10000000 /dev/zero | tr '\\0' e >&2\nexit 1",
    );
    let runner = PluginRunner::new(1);

    let result = run_valid(
        &runner,
        &check(&plugin, &[], Duration::from_secs(30)),
        &MacroValues::default(),
    )
    .await;

    assert_eq!(result.exit, Exit::Code(1));
    assert!(result.truncated);
    assert_eq!(result.stdout.len(), OUTPUT_LIMIT);
    assert!(result.stdout.bytes().all(|byte| byte == b'o'));
    assert_eq!(result.stderr.len(), OUTPUT_LIMIT);
    assert!(result.stderr.bytes().all(|byte| byte == b'e'));
}

#[tokio::test]
async fn stdout_and_stderr_are_kept_apart_and_invalid_utf8_is_replaced() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let plugin = script(
        dir.path(),
        "check_both",
        "printf 'WARNING - half \\377 full|used=50%%\\n'\necho 'a note' >&2\nexit 1",
    );
    let runner = PluginRunner::new(1);

    let result = run_valid(
        &runner,
        &check(&plugin, &[], Duration::from_secs(10)),
        &MacroValues::default(),
    )
    .await;

    assert_eq!(result.exit, Exit::Code(1));
    assert_eq!(result.stdout, "WARNING - half \u{FFFD} full|used=50%\n");
    assert_eq!(result.stderr, "a note\n");
    assert!(!result.truncated);
    assert_eq!(result.message(), "WARNING - half \u{FFFD} full|used=50%");
}

#[tokio::test]
async fn each_argument_is_one_argv_entry_with_its_macros_expanded() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let plugin = script(dir.path(), "check_argv", "printf '[%s]\\n' \"$@\"");
    let runner = PluginRunner::new(1);
    let argv = check(
        &plugin,
        &[
            "-H",
            "$HOSTADDRESS$",
            "--name=$HOSTNAME$",
            "two words; $$(not a shell) `either` *",
            "$USER1$/check_tcp",
            "price: 5$$",
            "$ARG1$-$ARG2$-$ARG32$",
            "",
        ],
        Duration::from_secs(10),
    );
    let values = MacroValues {
        host_address: "192.0.2.7".to_owned(),
        host_name: "web 1".to_owned(),
        args: vec!["first".to_owned(), "$HOSTNAME$".to_owned()],
    };

    let result = run_valid(&runner, &argv, &values).await;

    assert_eq!(
        result.stdout,
        "[-H]\n[192.0.2.7]\n[--name=web 1]\n[two words; $(not a shell) `either` *]\n\
         [/usr/lib/nagios/plugins/check_tcp]\n[price: 5$]\n[first-$HOSTNAME$-]\n[]\n",
        "a macro value is not expanded again; a missing $ARGn$ is empty"
    );
}

#[tokio::test]
async fn the_plugin_gets_a_minimal_environment_and_no_stdin() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let plugin = script(
        dir.path(),
        "check_env",
        "env | sort\nif read line; then echo \"stdin: $line\"; fi",
    );
    let runner = PluginRunner::new(1);

    let result = run_valid(
        &runner,
        &check(&plugin, &[], Duration::from_secs(10)),
        &MacroValues::default(),
    )
    .await;

    assert_eq!(
        result.stdout,
        "LANG=C\nLC_ALL=C\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nPWD=/\n",
        "PWD is the shell's own"
    );
}

#[tokio::test]
async fn runs_beyond_max_concurrent_wait_for_a_slot() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let running = dir.path().join("running");
    std::fs::create_dir(&running).expect("create the directory of running plugins");
    // Each run marks itself running, then reports how many runs it saw running, itself included:
    // the last of three at once would see three.
    let plugin = script(
        dir.path(),
        "check_slow",
        "touch \"$1/$$\"\nls \"$1\" | wc -l\nsleep 0.3\nrm \"$1/$$\"",
    );
    let runner = PluginRunner::new(2);
    let slow = check(&plugin, &["$ARG1$"], Duration::from_secs(10));
    slow.validate().expect("the check is valid");
    let values = host("", &[running.to_str().expect("UTF-8 path")]);

    let start = Instant::now();
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (runner, slow, values) = (runner.clone(), slow.clone(), values.clone());
        runs.spawn(async move { run(&runner, &slow, &values).await });
    }
    let results = runs.join_all().await;
    let took = start.elapsed();

    for result in &results {
        assert_eq!(result.exit, Exit::Code(0), "{result:#?}");
        let seen: u32 = result.stdout.trim().parse().expect("a count");
        assert!(
            (1..=2).contains(&seen),
            "a run saw {seen} runs at once: {results:#?}"
        );
    }
    // Three rounds of 300 ms: two, two, one.
    assert!(
        (Duration::from_millis(900)..Duration::from_millis(2000)).contains(&took),
        "five runs took {took:?}"
    );
    let mut waited: Vec<Duration> = results.iter().map(|result| result.waited).collect();
    waited.sort();
    assert!(
        waited[1] < Duration::from_millis(100),
        "two runs start at once: {waited:?}"
    );
    assert!(
        waited[2] >= Duration::from_millis(300),
        "the third waits a round: {waited:?}"
    );
    assert!(
        waited[4] >= Duration::from_millis(600),
        "the fifth waits two rounds: {waited:?}"
    );
    for result in &results {
        assert!(result.duration >= Duration::from_millis(300), "{result:#?}");
        assert!(
            result.duration < Duration::from_millis(900),
            "waiting is not run time: {result:#?}"
        );
    }
}

/// What `validate` should give: `Ok(())` or the field and the message.
type Validated = Result<(), (&'static str, String)>;

#[tokio::test]
async fn validate_names_the_field_and_the_problem() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temporary directory");
    let plain = dir.path().join("check_plain");
    std::fs::write(&plain, "#!/bin/sh\necho OK\n").expect("write");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let good = script(dir.path(), "check_good", "echo OK");
    let missing = Path::new(PLUGIN_DIR).join("check_foo");
    let second = Duration::from_secs(1);
    let d = dir.path().display();

    let table: Vec<(PluginCheck, Validated)> = vec![
        (
            check(
                &good,
                &["-H", "$HOSTADDRESS$", "$ARG32$", "5$$", "$USER1$"],
                second,
            ),
            Ok(()),
        ),
        (
            check(&missing, &[], second),
            Err((
                "plugin",
                "plugin: /usr/lib/nagios/plugins/check_foo does not exist".to_owned(),
            )),
        ),
        (
            check(&plain, &[], second),
            Err((
                "plugin",
                format!("plugin: {d}/check_plain is not executable by this process"),
            )),
        ),
        (
            check(dir.path(), &[], second),
            Err(("plugin", format!("plugin: {d} is not a regular file"))),
        ),
        (
            check(Path::new("check_tcp"), &[], second),
            Err((
                "plugin",
                "plugin: check_tcp is not an absolute path".to_owned(),
            )),
        ),
        (
            check(&good, &["-H", "$HOST$"], second),
            Err((
                "arguments[1]",
                "arguments[1]: unknown macro $HOST$ (known: $HOSTADDRESS$, $HOSTNAME$, $ARG1$ to \
                 $ARG32$, $USER1$; write $$ for a dollar sign)"
                    .to_owned(),
            )),
        ),
        (
            check(&good, &["$ARG0$"], second),
            Err(("arguments[0]", unknown_macro(0, "ARG0"))),
        ),
        (
            check(&good, &["$ARG33$"], second),
            Err(("arguments[0]", unknown_macro(0, "ARG33"))),
        ),
        (
            check(&good, &["$ARG01$"], second),
            Err(("arguments[0]", unknown_macro(0, "ARG01"))),
        ),
        (
            check(&good, &["x", "y", "pa$word"], second),
            Err(("arguments[2]", unclosed_macro(2))),
        ),
        (
            check(&good, &[], Duration::ZERO),
            Err((
                "timeout",
                "timeout: 0ns is out of range (more than zero, at most 24 hours)".to_owned(),
            )),
        ),
    ];
    for (check, expected) in table {
        let got = check
            .validate()
            .map_err(|error| (error.field(), error.to_string()));
        let expected = expected.map_err(|(field, message)| (field.to_owned(), message));
        assert_eq!(got, expected, "{check:?}");
    }
}

fn unknown_macro(index: usize, name: &str) -> String {
    PluginCheckError::UnknownMacro {
        index,
        name: name.to_owned(),
    }
    .to_string()
}

fn unclosed_macro(index: usize) -> String {
    format!(
        "arguments[{index}]: a $ opens a macro that is never closed (write $$ for a dollar sign)"
    )
}

#[tokio::test]
async fn a_plugin_that_cannot_start_is_unknown_with_the_os_error() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temporary directory");
    let plain = dir.path().join("check_plain");
    std::fs::write(&plain, "#!/bin/sh\necho OK\n").expect("write");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let missing = dir.path().join("check_missing");
    let runner = PluginRunner::new(1);
    let d = dir.path().display();

    let table = [
        (
            &plain,
            format!("cannot start {d}/check_plain: Permission denied (os error 13)"),
        ),
        (
            &missing,
            format!("cannot start {d}/check_missing: No such file or directory (os error 2)"),
        ),
    ];
    for (plugin, message) in table {
        // Not validated: the file may change between the definition and the run.
        let result = run(
            &runner,
            &check(plugin, &[], Duration::from_secs(5)),
            &MacroValues::default(),
        )
        .await;
        assert_eq!(result.exit, Exit::Failed(message.clone()), "{result:#?}");
        assert_eq!(
            (result.state(), result.message()),
            (State::Unknown, message)
        );
    }

    let result = run(
        &runner,
        &check(&plain, &["$NOPE$"], Duration::from_secs(5)),
        &MacroValues::default(),
    )
    .await;
    assert_eq!(result.state(), State::Unknown);
    assert_eq!(result.message(), unknown_macro(0, "NOPE"));
}
