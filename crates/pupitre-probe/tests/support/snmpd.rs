//! A real net-snmp `snmpd` (Debian's package) for tests, started on 127.0.0.1 with a free UDP
//! port and a configuration in a temporary directory, and killed when dropped, even on a
//! panic. Shared by the probe's and the web server's tests (`#[path]`-included).

use std::net::UdpSocket;
use std::process::Stdio;
use std::time::Duration;

use pupitre_probe::secret::Secret;
use pupitre_probe::snmp::{AuthProtocol, PrivProtocol, SnmpTarget, SnmpVersion, V3User};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const COMMUNITY: &str = "testcommunity";
pub const USER: &str = "testv3user";
pub const AUTH_PASSWORD: &str = "authpass-123456";
pub const PRIV_PASSWORD: &str = "privpass-123456";

pub const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
pub const SYS_UP_TIME: &str = "1.3.6.1.2.1.1.3.0";
pub const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";
pub const SYS_SERVICES: &str = "1.3.6.1.2.1.1.7.0";

/// A running snmpd; dropping it kills the daemon and removes its directory.
pub struct Snmpd {
    pub port: u16,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl Snmpd {
    pub async fn start() -> Snmpd {
        let snmpd = ["/usr/sbin/snmpd", "/usr/bin/snmpd"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .expect(
                "snmpd is not installed: these tests need Debian's net-snmp agent \
                 (apt-get install snmpd; .ci/run installs it)",
            );
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = free_udp_port();
        let config = format!(
            "agentAddress udp:127.0.0.1:{port}\n\
             rocommunity {COMMUNITY} 127.0.0.1\n\
             createUser {USER} SHA-256 \"{AUTH_PASSWORD}\" AES \"{PRIV_PASSWORD}\"\n\
             rouser {USER} authpriv\n\
             createUser testv3sha512 SHA-512 \"{AUTH_PASSWORD}\" AES-256 \"{PRIV_PASSWORD}\"\n\
             rouser testv3sha512 authpriv\n\
             createUser testv3authonly SHA \"{AUTH_PASSWORD}\"\n\
             rouser testv3authonly auth\n\
             sysName snmp-peer-test\n\
             sysLocation test-rack-1\n\
             sysServices 72\n\
             dontLogTCPWrappersConnects yes\n"
        );
        let config_path = dir.path().join("snmpd.conf");
        std::fs::write(&config_path, config).expect("write snmpd.conf");
        let persist = dir.path().join("persist");
        std::fs::create_dir(&persist).expect("persist directory");
        let mut child = Command::new(snmpd)
            .args(["-f", "-Lo", "-C", "-I", "-smux", "-c"])
            .arg(&config_path)
            .arg("-p")
            .arg(dir.path().join("snmpd.pid"))
            .env("MIBS", "")
            .env("SNMP_PERSISTENT_DIR", &persist)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start snmpd");
        // snmpd prints its version once it listens; the rest of its log is drained so that it
        // never blocks on a full pipe.
        let stdout = child.stdout.take().expect("snmpd stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut log = Vec::new();
        let ready = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(line)) = lines.next_line().await {
                let ready = line.contains("NET-SNMP version");
                log.push(line);
                if ready {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ready, Ok(true), "snmpd did not start: {}", log.join("\n"));
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Snmpd {
            port,
            _child: child,
            _dir: dir,
        }
    }

    pub fn target(&self, version: SnmpVersion) -> SnmpTarget {
        let mut target = SnmpTarget::new("127.0.0.1", version);
        target.port = self.port;
        target.timeout = Duration::from_secs(2);
        target.retries = 1;
        target
    }

    pub fn v2c(&self) -> SnmpTarget {
        self.target(SnmpVersion::V2c {
            community: Secret::new(COMMUNITY),
        })
    }

    pub fn v3(&self, auth_password: &str) -> SnmpTarget {
        self.target(SnmpVersion::V3(V3User::auth_priv(
            USER,
            AuthProtocol::Sha256,
            Secret::new(auth_password),
            PrivProtocol::Aes128,
            Secret::new(PRIV_PASSWORD),
        )))
    }
}

pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    socket.local_addr().expect("local address").port()
}
