//! The security set-up of docs/bridge.md, as written there: bridges over
//! zenoh's TLS with both sides showing a certificate (mutual TLS). A
//! bridge without a certificate signed by the CA never links.

mod common;

use common::*;
use shmring::{AnyRing, MessageReceiver, RingGeometry};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A scratch directory with a CA and one certificate it signed (for
/// 127.0.0.1), made with openssl; removed on drop.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn make() -> Certificates {
        let dir = std::env::temp_dir().join(unique("tls"));
        std::fs::create_dir_all(&dir).unwrap();
        let certs = Certificates { dir };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        certs.openssl(&[
            &["req", "-x509"],
            &ec[..],
            &[
                "-keyout",
                "ca-key.pem",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=shmring-test-ca",
            ],
        ]);
        certs.openssl(&[
            &["req"],
            &ec[..],
            &[
                "-keyout",
                "bridge-key.pem",
                "-out",
                "bridge.csr",
                "-subj",
                "/CN=bridge",
            ],
        ]);
        std::fs::write(
            certs.dir.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        certs.openssl(&[&[
            "x509",
            "-req",
            "-in",
            "bridge.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "bridge.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]]);
        certs
    }

    fn openssl(&self, parts: &[&[&str]]) {
        let args: Vec<&str> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(&self.dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// zenoh's configuration (docs/bridge.md, Security), with or without
    /// this side's own certificate.
    fn zenoh_config(&self, name: &str, with_certificate: bool) -> PathBuf {
        let own = if with_certificate {
            format!(
                r#"listen_certificate: "{cert}", listen_private_key: "{key}",
                   connect_certificate: "{cert}", connect_private_key: "{key}","#,
                cert = self.path("bridge.pem"),
                key = self.path("bridge-key.pem")
            )
        } else {
            String::new()
        };
        let text = format!(
            r#"{{ transport: {{ link: {{ tls: {{
                root_ca_certificate: "{ca}",
                {own}
                enable_mtls: true,
            }} }} }} }}"#,
            ca = self.path("ca.pem")
        );
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tls_bridge(config: &Path, endpoint: &str, route: [String; 2]) -> BridgeProcess {
    let host = TwoHosts::loopback().a.clone();
    let mut args = vec![
        "--no-scouting".to_string(),
        "--zenoh-config".into(),
        config.display().to_string(),
    ];
    args.extend(endpoint.split(' ').map(String::from));
    args.extend(route);
    BridgeProcess::start(&host, &args)
}

#[test]
fn bridges_over_mutual_tls_carry_messages_and_a_bridge_without_a_certificate_never_links() {
    let certs = Certificates::make();
    let (with, without) = (
        certs.zenoh_config("with.json5", true),
        certs.zenoh_config("without.json5", false),
    );
    let a = ring("a", RingGeometry::spsc(1 << 16));
    let b = ring("b", RingGeometry::spsc(1 << 16));
    let key = unique_key("tls");
    let port = free_port(&TwoHosts::loopback().a);
    let listen = format!("--listen tls/127.0.0.1:{port}");
    let connect = format!("--connect tls/127.0.0.1:{port}");
    let bridge_a = tls_bridge(&with, &listen, out_route(&a.0, &key, ""));
    bridge_a.wait_for(PATIENCE, "started", |_| true);

    // No certificate of its own: the listener refuses it.
    let stranger_ring = ring("stranger", RingGeometry::spsc(1 << 16));
    let stranger = tls_bridge(&without, &connect, in_route(&key, &stranger_ring.0, ""));
    std::thread::sleep(Duration::from_secs(2));
    let s = stranger.wait_for(PATIENCE, "reporting", |_| true);
    assert!(s.linked.is_empty(), "linked without a certificate: {s}");
    drop(stranger);

    let bridge_b = tls_bridge(&with, &connect, in_route(&key, &b.0, ""));
    bridge_b.wait_linked();
    let producer = produce(&a.0, 9, 0..10_000);
    let mut rx = AnyRing::open(&b.0).unwrap().receiver().unwrap();
    for seq in 0..10_000 {
        assert_eq!(check(&rx.recv_timeout(PATIENCE).unwrap()), (9, seq));
    }
    producer.join().unwrap();
    let linked = bridge_a.status().unwrap().linked;
    assert_eq!(linked.len(), 1, "{linked:?}");
}
